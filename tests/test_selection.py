"""Selection: class filters and deterministic sampling."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import odd_tree
from orchard_contract.paths import label_from_path
from orchard_contract.selection import Selection, SelectionTally, select_images

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


def test_the_same_odd_named_images_are_picked_from_a_local_copy_and_from_s3():
    tree = odd_tree()
    selection = Selection(max_per_class=1, max_images=12, seed=5)
    local = select_images([f"file:/home/me/data/fruits #360?/{relative}" for relative in tree], selection)
    on_s3 = select_images([f"s3://bucket/fruits #360?/{relative}" for relative in tree], selection)
    assert [path.removeprefix("file:/home/me/data/") for path in local] == [
        path.removeprefix("s3://bucket/") for path in on_s3]
    assert len(local) == 12 and len(labels(local)) == 12  # a class each: every odd class name is a class of its own


def test_result_is_sorted():
    kept = select_images(listing(), Selection(max_images=30))
    assert kept == sorted(kept)


def test_mini_manifest_picks_300_images_of_5_classes_from_the_demo_sample(tmp_path):
    from pathlib import Path

    from orchard_contract.manifest import parse_manifest
    from orchard_local.sample_data import generate_dataset

    manifest_path = Path(__file__).resolve().parents[1] / "manifests" / "mini.json"
    manifest = parse_manifest(manifest_path.read_text(), str(manifest_path))
    sample = generate_dataset(tmp_path / "fruits-360")
    files = [str(path) for path in sample.root.rglob("*") if path.is_file()]
    kept = select_images(files, manifest.selection)
    assert len(kept) == 300
    assert labels(kept) == Counter({label: 60 for label in manifest.selection.classes})
    assert set(sample.broken) <= set(kept)  # the demo shows its broken files failing


# --- the tally: select_images's counts, one file at a time ----------------------------------------------------


def keys_read_until_satisfied(paths: Iterable[str], selection: Selection, needed: int) -> tuple[int, SelectionTally]:
    """Feed `paths` to a tally one at a time, stopping as a listing does once the selection suffices."""
    tally, read = SelectionTally(selection), 0
    for path in paths:
        read += 1
        tally.add(path)
        if tally.satisfies(needed):
            break
    return read, tally


def test_the_tally_knows_the_verdict_at_the_key_that_settles_it():
    paths = listing(per_class=20)  # Apple Braeburn's 20 images, then Apple Golden 1's, Banana's, Kiwi's

    assert keys_read_until_satisfied(paths, Selection(classes=("Apple*",)), 5)[0] == 5
    assert keys_read_until_satisfied(paths, Selection(classes=("Apple*", "Banana")), 5)[0] == 41  # the 1st Banana
    assert keys_read_until_satisfied(paths, Selection(), 35)[0] == 35
    assert keys_read_until_satisfied(paths, Selection(max_per_class=5), 12)[0] == 42  # 20 + 20 + 2 Bananas
    read, tally = keys_read_until_satisfied(paths, Selection(classes=("Kiwi", "Cherry")), 1)
    assert (read, tally.unmatched, tally.yield_count()) == (len(paths), ["Cherry"], 20)


def test_the_tally_counts_what_select_images_keeps():
    paths = listing(per_class=20)
    for selection in (Selection(), Selection(max_per_class=3), Selection(max_images=7, classes=("Apple*", "Kiwi")),
                      Selection(max_per_class=30, max_images=50), Selection(classes=("Nothing",))):
        tally = SelectionTally(selection)
        considered = [path for path in paths if tally.add(path)]
        assert tally.yield_count() == len(select_images(paths, selection))
        assert sorted(considered) == sorted(select_images(paths, Selection(classes=selection.classes)))


PATHS = st.lists(st.builds("s3://b/{}/{}/{}{}".format, st.sampled_from(["Training", "Test"]),
                           st.sampled_from(["Apple A", "Apple B", "Kiwi", "Banana"]),
                           st.integers(0, 9), st.sampled_from([".jpg", ".PNG", ".txt", ""])), max_size=40)
SELECTIONS = st.builds(Selection, classes=st.lists(st.sampled_from(["Apple*", "Kiwi", "Cherry", "?????"]),
                                                   unique=True, max_size=3).map(tuple),
                       max_per_class=st.none() | st.integers(1, 6), max_images=st.none() | st.integers(1, 12),
                       seed=st.integers(0, 3))


@settings(max_examples=300, deadline=None)
@given(paths=PATHS, selection=SELECTIONS)
def test_any_listing_is_counted_as_select_images_keeps_it(paths, selection):
    tally = SelectionTally(selection)
    for path in paths:
        tally.add(path)

    kept = select_images(paths, selection)
    assert tally.yield_count() == len(kept)
    assert tally.unmatched == [pattern for pattern in selection.classes
                               if not select_images(paths, Selection(classes=(pattern,)))]
