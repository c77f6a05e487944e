"""The whole job in local Spark: outputs, counts, PCA against scikit-learn, re-runs, failures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import PCA as SklearnPCA

from helpers import keras_features, relative_error
from orchard_contract.paths import label_from_path
from orchard_contract.run_outputs import MODEL_INFO_DOCUMENT, MODEL_INFO_FILE, PARQUET_OUTPUTS, SUCCESS_MARKER_DOCUMENT
from orchard_contract.selection import Selection
from orchard_features import job, storage
from orchard_features.pca import PcaError
from orchard_features.progress import Progress

pytestmark = pytest.mark.spark

QUIET = Progress(enabled=False)


def read_info(output: str) -> dict:
    return json.loads((Path(output) / "model_info" / MODEL_INFO_FILE).read_text())


@pytest.fixture(scope="module")
def finished(spark, base_settings, sample, onnx_model):
    """One full run on the sample, CSV copies included."""
    from dataclasses import replace

    settings = replace(base_settings, write_csv=True)
    info = job.run(spark, settings, QUIET)
    return settings, info


def test_counts_add_up_and_broken_files_are_listed_with_reasons(spark, finished, sample):
    settings, info = finished
    counts = info["counts"]
    assert counts["images_read"] == sample.images
    assert counts["images_featurized"] + counts["images_failed"] == counts["images_read"]
    errors = {row.path: row.reason for row in storage.read_parquet(spark, settings.output, "errors").collect()}
    assert sorted(Path(path).name for path in errors) == sorted(Path(path).name for path in sample.broken)
    reasons = {Path(path).name: reason for path, reason in errors.items()}
    assert reasons["broken_empty.jpg"] == "empty file (0 bytes)"
    assert reasons["broken_not_an_image.jpg"].startswith("not an image")
    assert reasons["broken_truncated.jpg"].startswith("truncated or corrupt")


def test_odd_images_are_converted_and_featurized(spark, finished, sample):
    settings, _ = finished
    metadata = {Path(row.path).name: row for row in storage.read_parquet(spark, settings.output, "metadata").collect()}
    for path in sample.odd:
        assert metadata[Path(path).name].status == "featurized"
    assert metadata["odd_cmyk.jpg"].mode == "CMYK"
    assert metadata["odd_png_named.jpg"].width == 100


def test_outputs_have_the_promised_shapes(spark, finished):
    settings, info = finished
    for output in PARQUET_OUTPUTS:  # the columns declared, in order, of the types declared
        written = storage.read_parquet(spark, settings.output, output.folder)
        assert [(field.name, field.dataType.simpleString()) for field in written.schema] == [
            (column.name, column.type) for column in output.columns], output.folder
    features = storage.read_parquet(spark, settings.output, "features")
    projected = storage.read_parquet(spark, settings.output, "pca")
    assert features.count() == projected.count() == info["counts"]["images_featurized"]
    assert {len(row.features) for row in features.collect()} == {1280}
    assert {len(row.pca) for row in projected.collect()} == {settings.pca_components}
    for row in features.collect():
        assert row.label == label_from_path(row.path)
    assert storage.read_parquet(spark, settings.output, "metadata").count() == info["counts"]["images_read"]


def test_job_features_equal_the_keras_model_on_the_same_images(spark, finished, keras_model):
    settings, _ = finished
    rows = storage.read_parquet(spark, settings.output, "features").orderBy("path").limit(16).collect()
    images = [Path(row.path.removeprefix("file:")).read_bytes() for row in rows]
    expected = keras_features(keras_model, images)
    assert relative_error(np.array([row.features for row in rows]), expected) < 1e-4


def test_model_info_records_the_run(finished):
    settings, info = finished
    assert read_info(settings.output) == info  # what run returns is the record it wrote
    assert MODEL_INFO_DOCUMENT.problems(info) == []
    assert info["model"]["weights_are_random"] is True
    assert "NOT ImageNet" in info["model"]["weights_description"]
    assert info["model"]["image_size"] == settings.image_size and info["model"]["engine"] == "onnxruntime"
    assert len(info["pca"]["explained_variance"]) == settings.pca_components
    assert info["pca"]["cumulative_explained_variance"][-1] == pytest.approx(info["pca"]["total_explained_variance"])
    assert info["versions"]["pyspark"].startswith("3.5.")
    assert info["timings_seconds"]["total"] > 0


def test_success_marker_report_and_csv_copies_are_written(finished):
    settings, _ = finished
    output = Path(settings.output)
    marker = json.loads((output / storage.SUCCESS_MARKER).read_text())
    assert SUCCESS_MARKER_DOCUMENT.problems(marker) == []
    assert marker["run_name"] == "test"
    for name in ("index.html", "explained_variance.png", "pca_scatter.png"):
        assert (output / "report" / name).stat().st_size > 0
    header = next(p for p in (output / "features_csv").glob("part-*.csv")).read_text().splitlines()[0]
    assert header.split(",")[:3] == ["path", "label", "features_0"] and header.endswith("features_1279")
    assert (output / "model_info" / "pca_model" / "metadata").is_dir()


def test_explained_variance_and_projections_match_scikit_learn(spark, finished):
    settings, _ = finished
    rows = sorted(storage.read_parquet(spark, settings.output, "features").collect(), key=lambda row: row.path)
    projected = {row.path: row.pca for row in storage.read_parquet(spark, settings.output, "pca").collect()}
    features = np.array([row.features for row in rows], dtype=np.float64)
    reference = SklearnPCA(n_components=settings.pca_components, svd_solver="full").fit(features)
    recorded = np.array(read_info(settings.output)["pca"]["explained_variance"])
    np.testing.assert_allclose(recorded, reference.explained_variance_ratio_, rtol=0, atol=1e-6)
    ours = np.array([projected[row.path] for row in rows])
    theirs = reference.transform(features)
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours * signs, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_filters_select_what_they_say(spark, settings_in):
    settings = settings_in(selection=Selection(classes=("Apple*", "Kiwi"), max_per_class=5, seed=3), pca_components=3,
                       write_report=False)
    info = job.run(spark, settings, QUIET)
    labels = [row.label for row in storage.read_parquet(spark, settings.output, "metadata").collect()]
    assert sorted(set(labels)) == ["Apple Braeburn", "Apple Golden 1", "Apple Granny Smith", "Kiwi"]
    assert all(labels.count(label) == 5 for label in set(labels))
    assert info["counts"]["images_read"] == 20


def test_too_many_components_is_refused_before_anything_is_written(spark, finished, settings_in):
    settings, _ = finished
    previous_marker = (Path(settings.output) / storage.SUCCESS_MARKER).read_text()
    with pytest.raises(PcaError, match="pca_components=2000 is more than the 1280 features"):
        job.run(spark, settings_in(output=settings.output, pca_components=2000), QUIET)
    with pytest.raises(PcaError, match="pca_components=30 is more than the 20 images"):
        job.run(spark, settings_in(output=settings.output, pca_components=30,
                                 selection=Selection(max_images=20)), QUIET)
    assert (Path(settings.output) / storage.SUCCESS_MARKER).read_text() == previous_marker


def test_rerun_into_the_same_prefix_replaces_the_previous_result(spark, settings_in):
    first = settings_in(write_csv=True, write_report=False, pca_components=4)
    job.run(spark, first, QUIET)
    unrelated = Path(first.output) / "notes.txt"
    unrelated.write_text("mine")
    second = settings_in(selection=Selection(classes=("Banana",)), pca_components=4, write_report=False)
    info = job.run(spark, second, QUIET)
    output = Path(second.output)
    assert not (output / "features_csv").exists()  # the first run's CSV copies are gone
    assert {row.label for row in storage.read_parquet(spark, second.output, "features").collect()} == {"Banana"}
    assert read_info(second.output)["counts"] == info["counts"]
    assert unrelated.read_text() == "mine"  # only the job's own outputs are replaced
    assert sorted(path.name for path in (output / "features").iterdir()) == [  # the tasks' features files, moved
        f"part-featurized-{number:05d}.parquet" for number in range(len(list((output / "features").iterdir())))]
    assert not (output / "_staging").exists()


def test_a_run_failing_part_way_leaves_no_success_marker(spark, settings_in, monkeypatch):
    settings = settings_in(pca_components=4, write_report=False)
    job.run(spark, settings, QUIET)
    assert (Path(settings.output) / storage.SUCCESS_MARKER).exists()

    real_write = storage.write_parquet

    def broken_write(frame, output, name, **options):  # one of the writes running side by side fails
        if name == "metadata":
            raise OSError("disk full")
        return real_write(frame, output, name, **options)

    monkeypatch.setattr(storage, "write_parquet", broken_write)
    with pytest.raises(OSError, match="disk full"):
        job.run(spark, settings, QUIET)
    assert not (Path(settings.output) / storage.SUCCESS_MARKER).exists()
    assert not (Path(settings.output) / "_staging").exists()  # the staged features are removed however a run ends


def test_missing_input_and_empty_selection_are_named(spark, settings_in):
    with pytest.raises(storage.InputError, match="input not found: /no/such/folder"):
        job.run(spark, settings_in(inputs=("/no/such/folder",)), QUIET)
    with pytest.raises(job.NoImagesError, match="no image selected"):
        job.run(spark, settings_in(selection=Selection(classes=("Durian",))), QUIET)


def test_text_files_round_trip_through_the_file_system_api(spark, tmp_path):
    location = f"file:{tmp_path}/manifests/m.json"
    storage.write_text(spark, location, '{"name": "pommes \u00e0 cidre"}\n')
    assert storage.read_text(spark, location) == '{"name": "pommes \u00e0 cidre"}\n'
    assert storage.read_text(spark, str(tmp_path / "manifests" / "m.json")).startswith("{")
    with pytest.raises(storage.InputError, match="file not found: .*missing.json"):
        storage.read_text(spark, str(tmp_path / "missing.json"))


@pytest.mark.parametrize(("images", "partitions"), [
    (4000, lambda cores: cores * math.ceil(4000 / (512 * cores))),  # images enough: whole waves of at most 512
    (300, lambda cores: cores),  # a small run: a task for every core
    (1, lambda cores: 1),  # never an empty task
])
def test_the_catalog_splits_images_into_even_tasks_in_whole_waves_of_every_core(spark, images, partitions):
    paths = {f"/data/Training/Kiwi/{number}.jpg": f"size={number} mtime_ns=1" for number in range(images)}
    sizes = job.catalog_frame(spark, paths, 512).rdd.glom().map(len).collect()
    cores = spark.sparkContext.defaultParallelism
    assert len(sizes) == partitions(cores)
    assert sum(sizes) == images and max(sizes) - min(sizes) <= 1 and max(sizes) <= 512
    assert len(sizes) % cores == 0 or len(sizes) < cores
