"""Choosing which images a run reads: class filters and deterministic sampling (pure)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from orchard_features.manifest import Selection
from orchard_features.paths import has_image_extension, label_from_path, path_segments


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


@dataclass
class SelectionTally:
    """What a selection can yield from the files seen so far, so that a listing can stop as soon as the
    verdict is known. The same rules as `select_images`: image extension, class folder, per-class and total caps."""

    selection: Selection
    per_class: Counter[str] = field(default_factory=Counter)

    def add(self, path: str) -> bool:
        """Count one listed file; whether the selection would consider it (an image of a kept class)."""
        label = label_from_path(path)
        if not (has_image_extension(path) and class_matches(label, self.selection.classes)):
            return False
        self.per_class[label] += 1
        return True

    def unmatched_patterns(self) -> list[str]:
        """The class patterns no image seen so far belongs to."""
        return [pattern for pattern in self.selection.classes
                if not any(fnmatchcase(label, pattern) for label in self.per_class)]

    def yield_count(self) -> int:
        """How many images the selection keeps from those seen so far."""
        cap = self.selection.max_per_class
        kept = sum(count if cap is None else min(count, cap) for count in self.per_class.values())
        return kept if self.selection.max_images is None else min(kept, self.selection.max_images)

    def satisfies(self, needed: int) -> bool:
        """Whether every class pattern is matched and the selection yields at least `needed` images."""
        return not self.unmatched_patterns() and self.yield_count() >= needed
