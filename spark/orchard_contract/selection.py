"""Choosing which images a run reads: class filters and deterministic sampling (pure)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from orchard_contract.json_schemas import MANIFEST_SCHEMA, load_schema
from orchard_contract.paths import has_image_extension, label_from_path, path_segments

# The manifest schema's default, its one definition (read here, not through manifest.py, which imports this module).
DEFAULT_SEED: int = load_schema(MANIFEST_SCHEMA)["properties"]["select"]["properties"]["seed"]["default"]


@dataclass(frozen=True)
class Selection:
    """Which of the images found a run keeps."""

    classes: tuple[str, ...] = ()
    max_per_class: int | None = None
    max_images: int | None = None
    seed: int = DEFAULT_SEED

    def keeps_everything(self) -> bool:
        """Whether this selection keeps every image found."""
        return not self.classes and self.max_per_class is None and self.max_images is None


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


def considered_class(path: str, selection: Selection) -> str | None:
    """The class of `path` when `selection` considers it (an image file of a class it keeps), else None."""
    label = label_from_path(path)
    return label if has_image_extension(path) and class_matches(label, selection.classes) else None


def select_images(paths: Iterable[str], selection: Selection) -> list[str]:
    """The image files among `paths` that `selection` keeps, sorted by path."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        label = considered_class(path, selection)
        if label is not None:
            by_class[label].append(path)

    def sampled(candidates: list[str], limit: int | None) -> list[str]:
        if limit is None:
            return candidates
        return sorted(candidates, key=lambda p: sample_key(selection.seed, p))[:limit]

    kept = [path for members in by_class.values() for path in sampled(members, selection.max_per_class)]
    return sorted(sampled(kept, selection.max_images))


@dataclass
class SelectionTally:
    """`select_images`'s rules as counts, one file at a time: how many images the selection keeps of the files
    counted so far, and which class patterns no image has matched yet. Counting a file costs what the job's own
    test of it costs (plus, for a file of a new class, a match per pattern not yet matched), so that a listing can
    ask for the verdict after every key and stop as soon as it is known."""

    selection: Selection
    per_class: Counter[str] = field(init=False, default_factory=Counter)
    kept_by_class: int = field(init=False, default=0)  # the sum over classes of min(images, max_per_class)
    unmatched: list[str] = field(init=False)  # the class patterns no image counted so far belongs to

    def __post_init__(self) -> None:
        self.unmatched = list(self.selection.classes)

    def add(self, path: str) -> bool:
        """Count one listed file; whether the selection considers it (an image of a class it keeps)."""
        label = considered_class(path, self.selection)
        if label is None:
            return False
        seen = self.per_class[label]
        self.per_class[label] = seen + 1
        if self.selection.max_per_class is None or seen < self.selection.max_per_class:
            self.kept_by_class += 1
        if not seen:
            self.unmatched = [pattern for pattern in self.unmatched if not class_matches(label, (pattern,))]
        return True

    def yield_count(self) -> int:
        """How many images the selection keeps of those counted so far."""
        cap = self.selection.max_images
        return self.kept_by_class if cap is None else min(self.kept_by_class, cap)

    def satisfies(self, needed: int) -> bool:
        """Whether every class pattern is matched and the selection keeps at least `needed` images."""
        return not self.unmatched and self.yield_count() >= needed
