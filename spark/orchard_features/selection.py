"""Choosing which images a run reads: class filters and deterministic sampling (pure)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from fnmatch import fnmatchcase

from orchard_features.images import has_image_extension
from orchard_features.manifest import Selection
from orchard_features.paths import label_from_path, path_segments


def sample_key(seed: int, path: str) -> str:
    """A stable pseudo-random sort key for `path`.

    It depends only on the seed and the image's `<split>/<Class>/<file>` tail, so the same
    manifest picks the same images from a local copy of a dataset and from its S3 copy.
    """
    tail = "/".join(path_segments(path)[-3:])
    return hashlib.sha256(f"{seed}:{tail}".encode()).hexdigest()


def class_matches(label: str, patterns: tuple[str, ...]) -> bool:
    """Whether a class name matches one of the glob patterns (all match when there are none)."""
    return not patterns or any(fnmatchcase(label, pattern) for pattern in patterns)


def select_images(paths: Iterable[str], selection: Selection) -> list[str]:
    """The image files among `paths` that `selection` keeps, sorted by path."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        label = label_from_path(path)
        if has_image_extension(path) and class_matches(label, selection.classes):
            by_class[label].append(path)

    def sampled(candidates: list[str], limit: int | None) -> list[str]:
        if limit is None:
            return candidates
        return sorted(candidates, key=lambda p: sample_key(selection.seed, p))[:limit]

    kept = [path for members in by_class.values() for path in sampled(members, selection.max_per_class)]
    return sorted(sampled(kept, selection.max_images))
