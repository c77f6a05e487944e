"""Path helpers, the report and the closing lines."""

from __future__ import annotations

from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import ODD_NAMES, ODD_SPLITS
from job_outputs import JobOutputs
from orchard_contract.paths import (
    file_uri,
    label_from_path,
    path_segments,
    resolve_relative,
    split_from_path,
    split_location,
)
from orchard_contract.run_outputs import MODEL_INFO_DOCUMENT
from orchard_features.closing_lines import closing_lines
from orchard_features.report import plot_scatter, render_page, variance_bands, write_report

# Where an image may be found: an S3 prefix, a file: URI, a local path; each with a name urllib would misread.
ROOTS = ("s3://bucket/in put #1", "file:/data/in put?", "/data/in put%20")
# Any one folder or file name: whatever a name may hold but `/` (and NUL, which no file name holds).
NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1)


def test_label_and_split_come_from_the_folders():
    path = "s3://bucket/fruits-360/Test/Apple Golden 1/r_12_100.jpg"
    assert (label_from_path(path), split_from_path(path)) == ("Apple Golden 1", "Test")


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_are_the_label_and_split_as_written(root, name):
    for split in ODD_SPLITS:
        path = f"{root}/{split}/{name}/{name}.jpg"
        assert (label_from_path(path), split_from_path(path)) == (name, split)
        assert path_segments(path)[-3:] == [split, name, f"{name}.jpg"]
    odd_split = f"{root}/{name}/Apple/0_100.jpg"
    assert (label_from_path(odd_split), split_from_path(odd_split)) == ("Apple", name)


@given(split=NAME, label=NAME, name=NAME)
def test_any_names_are_the_label_and_split_as_written(split, label, name):
    for root in ROOTS:
        path = f"{root}/{split}/{label}/{name}"
        assert (label_from_path(path), split_from_path(path)) == (label, split)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_locations_are_taken_apart_as_written(name):
    key = f"in/{name}/{name}.jpg"
    assert split_location(f"s3://bucket/{key}") == ("s3", "bucket", f"/{key}")
    assert split_location(f"S3A://bucket/{key}") == ("s3a", "bucket", f"/{key}")
    assert split_location(f"file:/data/{key}") == ("file", "", f"/data/{key}")
    assert split_location(f"file:///data/{key}") == ("file", "", f"/data/{key}")
    assert split_location(f"/data/{key}") == ("", "", f"/data/{key}")
    assert file_uri(f"/data/{key}") == f"file:/data/{key}"
    assert "/".join(path_segments(f"s3://bucket/{key}")) == key


def test_a_manifest_under_an_odd_key_resolves_its_relative_inputs():
    manifest = "s3://bucket/manifests/#1 why?/100% mine.json"
    assert resolve_relative(manifest, "../images/a b#c%20/") == "s3://bucket/manifests/images/a b#c%20"
    assert resolve_relative(manifest, "Odd #2") == "s3://bucket/manifests/#1 why?/Odd #2"


def info(random_weights: bool = True) -> dict:
    """A run's model_info.json (the fake outputs'): 10 images, 1 failed, 15 components, weights random or not."""
    explained = [0.3, 0.2, 0.1] + [0.01] * 12
    cumulative = list(accumulate(explained))
    document = JobOutputs(read=10, failed=1).model_info()
    document["pca"] = {"k": 15, "explained_variance": explained, "cumulative_explained_variance": cumulative,
                       "total_explained_variance": cumulative[-1]}
    document["model"] |= {"weights_are_random": random_weights,
                          "weights_description": "random: NOT ImageNet" if random_weights else "imagenet"}
    return document


def test_the_documents_shown_follow_the_schema():
    assert MODEL_INFO_DOCUMENT.problems(info(random_weights=True)) == []
    assert MODEL_INFO_DOCUMENT.problems(info(random_weights=False)) == []


def test_variance_bands_sum_by_ten():
    bands = variance_bands(info()["pca"]["explained_variance"])
    assert [name for name, _ in bands] == ["PC1-10", "PC11-15"]
    assert bands[0][1] == pytest.approx(0.67)


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_the_scatter_plot_shows_any_class_name_as_written(tmp_path: Path):
    # matplotlib would read "a $^$ b" as TeX (mathtext) and fail to draw it
    plot_scatter([(name, float(index), -float(index)) for index, name in enumerate(ODD_NAMES)], str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_report_draws_both_plots_and_a_page(tmp_path: Path):
    write_report(str(tmp_path), info(), [("Kiwi", 1.0, 2.0), ("Banana", -1.0, 0.5)])
    for name in ("explained_variance.png", "pca_scatter.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "index.html").read_text()
    assert 'src="pca_scatter.png"' in page and "PC1-10" in page


def test_the_page_and_the_closing_lines_say_how_many_images_were_reused_and_from_where():
    document = info()
    page, lines = render_page(document), closing_lines(document, "/out")
    assert "<th>Images reused from the feature store</th><td>4</td>" in page
    assert "featurized 5, reused 4, failed 1" in lines
    assert f"store       {document['run']['feature_store']} (model {document['model']['fingerprint']})" in lines


def test_random_weights_are_flagged_in_the_page_and_the_closing_lines():
    assert 'class="warn"' in render_page(info(random_weights=True))
    assert 'class="warn"' not in render_page(info(random_weights=False))
    lines = closing_lines(info(), "/out")
    assert "NOT ImageNet" in lines and "failed 1" in lines and "/out/errors/" in lines
