"""Before any cluster is paid for: list a run's inputs only as far as needed to know the run can succeed.

The listing stops as soon as the selection is known to be satisfiable (every class pattern matched, at least k
images kept), and after a page budget in any case: a prefix of millions of keys must not time the function out.
What the budget leaves unknown is left to the job's own checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from orchard_features.manifest import Selection
from orchard_features.paths import IMAGE_EXTENSIONS, has_image_extension
from orchard_features.selection import SelectionTally
from orchard_pipeline.s3uri import s3_uri, split_s3_uri

# ListObjectsV2 returns at most 1,000 keys a page (Amazon S3 API Reference, ListObjectsV2, MaxKeys): at most
# 100,000 keys listed, a few seconds of a function whose timeout is 30 s.
MAX_LISTING_PAGES = 100


@dataclass
class InputListing:
    """What was seen under one input prefix."""

    index: int
    uri: str
    objects: int = 0
    image_files: int = 0
    complete: bool = False  # listed to its last key


@dataclass
class Survey:
    """What the listing of every input saw, and what the selection keeps of it."""

    tally: SelectionTally
    listings: list[InputListing] = field(default_factory=list)
    pages: int = 0

    @property
    def complete(self) -> bool:
        return all(listing.complete for listing in self.listings)


def survey_inputs(s3: Any, inputs: Sequence[str], selection: Selection, needed: int,
                  max_pages: int = MAX_LISTING_PAGES) -> Survey:
    """List each input prefix (its first page at least) until the selection is known to yield `needed` images
    with every class pattern matched, or the page budget is spent. `s3` is a boto3 S3 client."""
    survey = Survey(tally=SelectionTally(selection))
    for index, uri in enumerate(inputs):
        listing = InputListing(index=index, uri=uri)
        survey.listings.append(listing)
        bucket, prefix = split_s3_uri(uri.rstrip("/") + "/")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            survey.pages += 1
            for item in page.get("Contents", []):
                # Percent-encoded, as Spark names the files the job reads: the same class for the same key.
                path = s3_uri(bucket, quote(item["Key"]))
                listing.objects += 1
                listing.image_files += has_image_extension(path)
                survey.tally.add(path)
            if not page.get("IsTruncated"):
                listing.complete = True
                break
            if (listing.image_files and survey.tally.satisfies(needed)) or survey.pages >= max_pages:
                break
    return survey


def survey_problems(survey: Survey, needed: int, needed_field: str) -> list[str]:
    """Why the run cannot succeed, each naming its field; only what the listing proves."""
    problems = []
    for listing in survey.listings:
        where = f"$.inputs[{listing.index}]"
        if listing.objects == 0:
            problems.append(f"{where}: there is no object under {listing.uri}")
        elif listing.complete and listing.image_files == 0:
            problems.append(f"{where}: none of the {listing.objects} objects under {listing.uri} is an image "
                            f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
    if survey.complete:
        selection = survey.tally.selection
        for pattern in survey.tally.unmatched_patterns():
            index = selection.classes.index(pattern)
            problems.append(f"$.select.classes[{index}]: {pattern!r} matches no class folder of images "
                            "under the inputs")
        kept = survey.tally.yield_count()
        if kept < needed and not problems:
            problems.append(f"{needed_field}: {needed} components need at least {needed} images, but the selection "
                            f"keeps {kept} of those under the inputs")
    return problems
