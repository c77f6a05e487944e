"""Listing the inputs before any cluster: stopped at the key that settles the verdict, bounded, claiming only what it
saw. S3 is a stand-in paginator here, counting its requests (test_prepare_run.py measures the real client's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchard_contract.paths import has_image_extension
from orchard_contract.selection import Selection, select_images
from orchard_functions.input_survey import Survey, survey_inputs, survey_problems
from orchard_functions.s3uri import s3_uri

K = "$.job.pca_components"


class PagedBucket:
    """ListObjectsV2 through boto3's paginator interface: `page_size` keys a page, a request counted when a page is
    asked for (boto3's paginator is as lazy)."""

    def __init__(self, keys: list[str], page_size: int = 1000) -> None:
        self.keys, self.page_size, self.requests = sorted(keys), page_size, 0

    def get_paginator(self, operation: str) -> PagedBucket:
        assert operation == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:  # noqa: N803 (boto3's names)
        matching = [key for key in self.keys if key.startswith(Prefix)]
        for start in range(0, max(len(matching), 1), self.page_size):
            self.requests += 1
            page = matching[start:start + self.page_size]
            yield {"IsTruncated": start + self.page_size < len(matching)} | (
                {"Contents": [{"Key": key} for key in page]} if page else {})


def images(prefix: str, count: int, extension: str = ".jpg") -> list[str]:
    return [f"{prefix}{number:05d}_100{extension}" for number in range(count)]


APPLES = images("big/Training/Apple Braeburn/", 2500)  # three pages


def survey(bucket: PagedBucket, inputs: list[str], selection: Selection, needed: int, **limits: Any) -> Survey:
    return survey_inputs(bucket, [s3_uri("b", uri) for uri in inputs], selection, needed, **limits)


def test_the_listing_stops_at_the_key_that_settles_the_verdict():
    for selection, needed, requests, keys in [(Selection(classes=("Apple*",)), 50, 1, 50),
                                              (Selection(), 1000, 1, 1000),
                                              (Selection(), 1001, 2, 1001),
                                              (Selection(max_per_class=2000), 2001, 3, 2500)]:
        bucket = PagedBucket(APPLES)
        seen = survey(bucket, ["big/"], selection, needed)
        assert (bucket.requests, seen.listings[0].objects, seen.cut) == (requests, keys, False), (selection, needed)


def test_a_class_listed_last_is_looked_for_until_its_first_image():
    bucket = PagedBucket([*APPLES, "big/Training/Zucchini/0_100.jpg"])

    seen = survey(bucket, ["big/"], Selection(classes=("Apple*", "Zucchini")), 1)

    assert (bucket.requests, seen.listings[0].objects, survey_problems(seen, 1, K)) == (3, 2501, [])


def test_the_page_budget_bounds_the_listing_and_what_it_claims():
    bucket = PagedBucket([*APPLES, "big/Training/Zucchini/0_100.jpg"])

    seen = survey(bucket, ["big/"], Selection(classes=("Zucchini",)), 1, max_pages=2)

    assert (bucket.requests, seen.listings[0].objects, seen.cut, seen.complete) == (2, 2000, True, False)
    assert survey_problems(seen, 1, K) == []  # Zucchini was not seen, nor proven absent


def test_each_input_gets_its_first_page_beyond_the_budget():
    bucket = PagedBucket(APPLES)

    seen = survey(bucket, ["big/", "typo/"], Selection(classes=("Zucchini",)), 1, max_pages=2)

    assert (bucket.requests, [listing.pages for listing in seen.listings]) == (3, [2, 1])
    assert survey_problems(seen, 1, K) == ["$.inputs[1]: there is no object under s3://b/typo/"]


def test_the_clock_stops_the_listing_before_its_next_page():
    bucket = PagedBucket(APPLES)
    out_of_time = iter([False])  # time for one page, then no more

    seen = survey(bucket, ["big/", "typo/"], Selection(classes=("Zucchini",)), 1,
                  out_of_time=lambda: next(out_of_time, True))

    assert (bucket.requests, [listing.pages for listing in seen.listings], seen.cut) == (1, [1, 0], True)
    assert survey_problems(seen, 1, K) == []  # typo/ was never listed: nothing is claimed about it


def test_an_input_is_listed_until_it_shows_an_image_even_when_the_others_suffice():
    notes = images("notes/", 1500, ".txt")
    bucket = PagedBucket([*APPLES, *notes, "notes/z/Kiwi/0_100.jpg"])

    seen = survey(bucket, ["big/", "notes/"], Selection(), 1)

    assert (bucket.requests, [listing.objects for listing in seen.listings]) == (3, [1, 1501])
    assert survey_problems(seen, 1, K) == []

    cut_before_its_image = survey(PagedBucket([*APPLES, *notes, "notes/z/Kiwi/0_100.jpg"]), ["big/", "notes/"],
                                  Selection(), 1, max_pages=2)
    assert (cut_before_its_image.cut, survey_problems(cut_before_its_image, 1, K)) == (True, [])
    without_image = survey(PagedBucket([*APPLES, *notes]), ["big/", "notes/"], Selection(), 1)
    assert survey_problems(without_image, 1, K) == [
        "$.inputs[1]: none of the 1500 objects under s3://b/notes/ is an image (.bmp, .gif, .jpeg, .jpg, .png, "
        ".tif, .tiff, .webp)"]


# --- against the whole listing: the same verdict, or less when cut ----------------------------------------------

INPUTS = ["in0", "in1", "in2"]
KEYS = st.lists(st.builds("{}/{}/{}/{}{}".format, st.sampled_from(INPUTS), st.sampled_from(["Training", "Test"]),
                          st.sampled_from(["Apple A", "Apple B #2?", "Kiwi", "Kiwi %41", "Banana"]), st.integers(0, 9),
                          st.sampled_from([".jpg", ".png", ".txt"])), max_size=30)
SELECTIONS = st.builds(Selection, classes=st.lists(st.sampled_from(["Apple*", "Kiwi", "Cherry"]), unique=True,
                                                   max_size=3).map(tuple),
                       max_per_class=st.none() | st.integers(1, 5), max_images=st.none() | st.integers(1, 10))


def fields_at_fault(keys: list[str], inputs: list[str], selection: Selection, needed: int) -> set[str]:
    """The fields a survey of every key must name, found with the job's own `select_images`."""
    under = [[s3_uri("b", key) for key in sorted(keys) if key.startswith(f"{uri}/")] for uri in inputs]
    everything = [path for paths in under for path in paths]
    fields = {f"$.inputs[{index}]" for index, paths in enumerate(under) if not any(map(has_image_extension, paths))}
    fields |= {f"$.select.classes[{index}]" for index, pattern in enumerate(selection.classes)
               if not select_images(everything, Selection(classes=(pattern,)))}
    return fields | ({K} if len(select_images(everything, selection)) < needed else set())


@settings(max_examples=300, deadline=None)
@given(keys=KEYS, inputs=st.lists(st.sampled_from(INPUTS), min_size=1, max_size=3, unique=True),
       selection=SELECTIONS, needed=st.integers(1, 12), page_size=st.integers(1, 4),
       max_pages=st.none() | st.integers(1, 6))
def test_any_listing_names_what_the_whole_listing_proves_and_nothing_else(keys, inputs, selection, needed,
                                                                            page_size, max_pages):
    limits = {} if max_pages is None else {"max_pages": max_pages}
    seen = survey(PagedBucket(keys, page_size), [f"{uri}/" for uri in inputs], selection, needed, **limits)

    named = {problem.split(":")[0] for problem in survey_problems(seen, needed, K)}
    expected = fields_at_fault(keys, inputs, selection, needed)
    assert named <= expected
    if not seen.cut:
        assert named == expected
