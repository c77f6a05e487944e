"""Selection: class filters and deterministic sampling."""

from __future__ import annotations

from collections import Counter

from orchard_features.manifest import Selection
from orchard_features.paths import label_from_path
from orchard_features.selection import select_images

CLASSES = ["Apple Braeburn", "Apple Golden 1", "Banana", "Kiwi"]


def listing(root: str = "s3://bucket/fruits-360", per_class: int = 20) -> list[str]:
    paths = [f"{root}/Training/{label}/{n}_100.jpg" for label in CLASSES for n in range(per_class)]
    return paths + [f"{root}/Training/Kiwi/README.txt", f"{root}/Training/Kiwi/.DS_Store"]


def labels(paths: list[str]) -> Counter:
    return Counter(label_from_path(path) for path in paths)


def test_no_selection_keeps_every_image_and_no_other_file():
    kept = select_images(listing(), Selection())
    assert len(kept) == 80
    assert not any(path.endswith((".txt", ".DS_Store")) for path in kept)


def test_class_patterns_and_names():
    assert set(labels(select_images(listing(), Selection(classes=("Apple*",))))) == {"Apple Braeburn", "Apple Golden 1"}
    assert set(labels(select_images(listing(), Selection(classes=("Kiwi", "Banana"))))) == {"Kiwi", "Banana"}
    assert select_images(listing(), Selection(classes=("kiwi",))) == []  # names are case-sensitive


def test_max_per_class_caps_each_class():
    kept = select_images(listing(), Selection(max_per_class=5))
    assert labels(kept) == Counter({label: 5 for label in CLASSES})


def test_max_images_caps_the_total_after_the_class_cap():
    kept = select_images(listing(), Selection(max_per_class=5, max_images=12))
    assert len(kept) == 12 and max(labels(kept).values()) <= 5


def test_sampling_is_deterministic_and_depends_on_the_seed():
    first = select_images(listing(), Selection(max_images=10, seed=1))
    assert first == select_images(listing(), Selection(max_images=10, seed=1))
    assert first != select_images(listing(), Selection(max_images=10, seed=2))


def test_the_same_images_are_picked_from_a_local_copy_and_from_s3():
    selection = Selection(max_per_class=3, seed=7)
    in_s3 = select_images(listing("s3://bucket/fruits-360"), selection)
    local = select_images(listing("file:/home/me/data/fruits-360"), selection)
    tail = lambda paths: [path.split("fruits-360/")[1] for path in paths]  # noqa: E731
    assert tail(in_s3) == tail(local)


def test_result_is_sorted():
    kept = select_images(listing(), Selection(max_images=30))
    assert kept == sorted(kept)


def test_mini_manifest_picks_300_images_of_5_classes_from_the_demo_sample(tmp_path):
    from pathlib import Path

    from orchard_features.manifest import parse_manifest
    from orchard_features.sample_data import generate_dataset

    manifest_path = Path(__file__).resolve().parents[1] / "manifests" / "mini.json"
    manifest = parse_manifest(manifest_path.read_text(), str(manifest_path))
    sample = generate_dataset(tmp_path / "fruits-360")
    files = [str(path) for path in sample.root.rglob("*") if path.is_file()]
    kept = select_images(files, manifest.selection)
    assert len(kept) == 300
    assert labels(kept) == Counter({label: 60 for label in manifest.selection.classes})
    assert set(sample.broken) <= set(kept)  # the demo shows its broken files failing
