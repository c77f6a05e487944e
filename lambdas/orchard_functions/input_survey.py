"""Before any cluster is paid for: list a run's inputs only as far as needed to know the run can succeed.

The listing stops at the key after which the selection is known to suffice (every class pattern matched, at least k
images kept), and before a page past the page budget or once the function runs short of time: a prefix of millions
of keys must not time the function out. What is left unknown is left to the job's own checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from orchard_contract.manifest import InvalidManifest, parse_manifest
from orchard_contract.paths import IMAGE_EXTENSIONS, has_image_extension
from orchard_contract.selection import Selection, SelectionTally
from orchard_functions.plan_model import RunPlan
from orchard_functions.s3uri import s3_uri, split_s3_uri

logger = Logger(child=True)  # the function's Logger's: its keys and its output

# A ListObjectsV2 request returns at most 1,000 keys ("Amazon S3 API Reference: ListObjectsV2", MaxKeys,
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html): the budget is 100,000 keys.
MAX_LISTING_PAGES = 100
LISTING_RESERVE_MS = 10_000  # the inputs are listed no later than this before the function's timeout


@dataclass
class InputListing:
    """What was seen under one input prefix."""

    index: int
    uri: str
    pages: int = 0
    objects: int = 0
    image_files: int = 0
    complete: bool = False  # listed to its last key


@dataclass
class Survey:
    """What the listing of the inputs saw, and what the selection keeps of it."""

    tally: SelectionTally
    listings: list[InputListing] = field(default_factory=list)
    cut: bool = False  # stopped by the page budget or the clock, not by a verdict

    @property
    def pages(self) -> int:
        return sum(listing.pages for listing in self.listings)

    @property
    def complete(self) -> bool:
        return all(listing.complete for listing in self.listings)


def listed_files(s3: Any, listing: InputListing, may_fetch: Callable[[InputListing], bool]) -> Iterator[str]:
    """The files under one input prefix as s3:// URIs, requested a page at a time, only while the caller keeps
    asking for keys and `may_fetch` allows the next page. `s3` is a boto3 S3 client."""
    bucket, prefix = split_s3_uri(listing.uri.rstrip("/") + "/")
    if not may_fetch(listing):
        return
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):  # a request per page
        listing.pages += 1
        # The key as written, as the job names the files it reads: the same class for the same key.
        yield from (s3_uri(bucket, item["Key"]) for item in page.get("Contents", []))
        if page.get("IsTruncated") and not may_fetch(listing):
            return
    listing.complete = True


def survey_inputs(s3: Any, inputs: Sequence[str], selection: Selection, needed: int,
                  max_pages: int = MAX_LISTING_PAGES, out_of_time: Callable[[], bool] = lambda: False) -> Survey:
    """List each input prefix until the selection is known to keep `needed` images with every class pattern
    matched (and the prefix to hold an image). Each prefix gets its first page, later pages come from the budget;
    none once `out_of_time()`."""
    survey = Survey(tally=SelectionTally(selection))

    def may_fetch(listing: InputListing) -> bool:
        allowed = not out_of_time() and (listing.pages == 0 or survey.pages < max_pages)
        survey.cut = survey.cut or not allowed
        return allowed

    for index, uri in enumerate(inputs):
        listing = InputListing(index=index, uri=uri)
        survey.listings.append(listing)
        for path in listed_files(s3, listing, may_fetch):
            listing.objects += 1
            listing.image_files += has_image_extension(path)
            survey.tally.add(path)
            if listing.image_files and survey.tally.satisfies(needed):
                break
    return survey


def survey_problems(survey: Survey, needed: int, needed_field: str) -> list[str]:
    """Why the run cannot succeed, each naming its field; only what the listing proves."""
    problems = []
    for listing in survey.listings:
        where = f"$.inputs[{listing.index}]"
        if listing.complete and listing.objects == 0:
            problems.append(f"{where}: there is no object under {listing.uri}")
        elif listing.complete and listing.image_files == 0:
            problems.append(f"{where}: none of the {listing.objects} objects under {listing.uri} is an image "
                            f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
    if survey.complete:
        classes = survey.tally.selection.classes
        problems += [f"$.select.classes[{classes.index(pattern)}]: {pattern!r} matches no class folder of images "
                     "under the inputs" for pattern in survey.tally.unmatched]
        kept = survey.tally.yield_count()
        if kept < needed:
            problems.append(f"{needed_field}: {needed} components need at least {needed} images, but the selection "
                            f"keeps {kept} of those under the inputs")
    return problems


def bucket_problems(inputs: list[str], readable_bucket: str) -> list[str]:
    """Why resolved s3:// inputs cannot be read by the cluster, whose instance role reads one bucket of images."""
    return [f"$.inputs[{index}]: {uri} is in bucket {split_s3_uri(uri)[0]!r}, which the cluster cannot read: "
            f"put the images in the inputs bucket {readable_bucket!r}"
            for index, uri in enumerate(inputs) if split_s3_uri(uri)[0] != readable_bucket]


def check_inputs(*, s3: Any, manifest: dict[str, Any], plan: RunPlan, k_is_default: bool, inputs_bucket: str,
                 time_left_ms: Callable[[], int]) -> None:
    """Raise InvalidManifest when the inputs of the resolved `manifest` are unreadable by the cluster, empty, or
    cannot give the run enough images for its k (`k_is_default`: the manifest left k to the default); list them
    only as far as needed, and only while the function has time to spare."""
    location = plan.source
    problems = bucket_problems(manifest["inputs"], inputs_bucket)
    if problems:
        raise InvalidManifest.listing(location, problems)
    selection = parse_manifest(json.dumps(manifest), location).selection
    needed = plan.pca_components
    needed_field = "$.job.pca_components" + (" (the default)" if k_is_default else "")
    survey = survey_inputs(s3, manifest["inputs"], selection, needed,
                           out_of_time=lambda: time_left_ms() < LISTING_RESERVE_MS)
    logger.info("Inputs listed", extra={"pages": survey.pages, "complete": survey.complete,
                                        "images_kept_so_far": survey.tally.yield_count()})
    if survey.cut:
        logger.warning("Listing stopped by its page budget or the clock before the verdict was known: "
                       "the job's own checks apply")
    problems = survey_problems(survey, needed, needed_field)
    if problems:
        raise InvalidManifest.listing(location, problems)
