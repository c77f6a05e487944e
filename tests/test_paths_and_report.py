"""Path helpers, the report and the closing lines."""

from __future__ import annotations

from itertools import accumulate
from pathlib import Path

import pytest

from job_outputs import JobOutputs
from orchard_contract.paths import label_from_path, split_from_path
from orchard_contract.run_outputs import MODEL_INFO_DOCUMENT
from orchard_features.closing_lines import closing_lines
from orchard_features.report import render_page, variance_bands, write_report


def test_label_and_split_come_from_the_folders():
    path = "s3://bucket/fruits-360/Test/Apple Golden 1/r_12_100.jpg"
    assert (label_from_path(path), split_from_path(path)) == ("Apple Golden 1", "Test")


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


def test_report_draws_both_plots_and_a_page(tmp_path: Path):
    write_report(str(tmp_path), info(), [("Kiwi", 1.0, 2.0), ("Banana", -1.0, 0.5)])
    for name in ("explained_variance.png", "pca_scatter.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "index.html").read_text()
    assert 'src="pca_scatter.png"' in page and "PC1-10" in page


def test_random_weights_are_flagged_in_the_page_and_the_closing_lines():
    assert 'class="warn"' in render_page(info(random_weights=True))
    assert 'class="warn"' not in render_page(info(random_weights=False))
    lines = closing_lines(info(), "/out")
    assert "NOT ImageNet" in lines and "failed 1" in lines and "/out/errors/" in lines
