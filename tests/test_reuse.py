"""Re-runs that redo nothing: with a feature store, the job featurizes only the images the store does not hold for its
model, reads back the others, and writes outputs equal, number for number, to those of a run without the store;
changed images and earlier failures are featurized again; a run that fails leaves what it computed to the next."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from helpers import driver_environment
from orchard_features import feature_store, job, storage
from orchard_features.progress import Progress
from orchard_local.local_s3 import LocalS3

pytestmark = pytest.mark.spark

BUCKET = "orchard-reuse"  # moto's backends are process-wide: a name no other test uses
FEATURES_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Run:
    """One finished run: its record, and its outputs keyed by the path relative to the input folder."""

    info: dict
    features: dict[str, np.ndarray]
    pca: dict[str, np.ndarray]
    metadata: dict[str, tuple]
    reasons: dict[str, str]

    @property
    def counts(self) -> dict[str, int]:
        return self.info["counts"]


def finished_run(spark, settings) -> Run:
    """Run the job with `settings` and read its outputs back."""
    info = job.run(spark, settings, Progress(enabled=False))  # its own: a Progress keeps the phases it timed
    (root,) = settings.inputs

    def rows(name: str) -> dict[str, tuple]:
        return {row.path.removeprefix(f"file:{root}/"): row
                for row in storage.read_parquet(spark, settings.output, name).collect()}

    return Run(
        info=info,
        features={path: np.array(row.features, np.float32) for path, row in rows("features").items()},
        pca={path: np.array(row.pca) for path, row in rows("pca").items()},
        metadata={path: (row.label, row.split, row.width, row.height, row.mode, row.status)
                  for path, row in rows("metadata").items()},
        reasons={path: row.reason for path, row in rows("errors").items()},
    )


def assert_same_outputs(run: Run, plain: Run) -> None:
    """Every output of `run` equals the run without a store's: the same images, features within 1e-6 (the same
    float32 values, in fact), the same PCA up to the order of floating-point sums."""
    assert run.metadata == plain.metadata
    assert run.reasons == plain.reasons
    assert sorted(run.features) == sorted(plain.features) == sorted(run.pca)
    paths = sorted(plain.features)
    features = np.stack([run.features[path] for path in paths])
    assert np.abs(features - np.stack([plain.features[path] for path in paths])).max() <= FEATURES_TOLERANCE
    variance, plain_variance = run.info["pca"]["explained_variance"], plain.info["pca"]["explained_variance"]
    np.testing.assert_allclose(variance, plain_variance, rtol=1e-9, atol=1e-12)
    projections = np.stack([plain.pca[path] for path in paths])
    np.testing.assert_allclose(np.stack([run.pca[path] for path in paths]), projections, rtol=0,
                               atol=1e-9 * np.abs(projections).max())


def without_reuse(counts: dict[str, int]) -> dict[str, int]:
    return {name: value for name, value in counts.items() if name not in ("images_featurized", "images_reused")}


@pytest.fixture(scope="module")
def plain(spark, base_settings, onnx_model, tmp_path_factory) -> Run:
    """The sample without a feature store."""
    return finished_run(spark, replace(base_settings, output=str(tmp_path_factory.mktemp("plain"))))


@pytest.fixture(scope="module")
def twice_on_s3(spark, base_settings, onnx_model, local_s3_server: LocalS3, tmp_path_factory) -> tuple[Run, Run]:
    """The sample run twice with a feature store under an S3 prefix, as deployed (the local S3)."""
    local_s3_server.client().create_bucket(Bucket=BUCKET)
    output = tmp_path_factory.mktemp("twice")
    settings = replace(base_settings, feature_store=f"s3://{BUCKET}/feature-store/")
    with driver_environment(local_s3_server):
        first = finished_run(spark, replace(settings, output=str(output / "first")))
        second = finished_run(spark, replace(settings, output=str(output / "second")))
    return first, second


def test_a_second_run_reuses_every_featurized_image_and_tries_the_failures_again(twice_on_s3, plain, sample):
    first, second = twice_on_s3
    featurized = plain.counts["images_featurized"]
    assert first.counts == plain.counts | {"images_reused": 0}
    assert second.counts == plain.counts | {"images_featurized": 0, "images_reused": featurized}
    assert second.counts["images_failed"] == len(sample.broken) == len(second.reasons)
    assert second.counts["images_read"] == sample.images == sum(
        second.counts[name] for name in ("images_featurized", "images_reused", "images_failed"))


def test_outputs_with_the_store_equal_those_without(twice_on_s3, plain):
    first, second = twice_on_s3
    assert_same_outputs(first, plain)
    assert_same_outputs(second, plain)


def test_the_record_names_the_store_and_the_model_s_folder_in_it(twice_on_s3, local_s3_server: LocalS3):
    first, second = twice_on_s3
    fingerprint = second.info["model"]["fingerprint"]
    assert first.info["model"]["fingerprint"] == fingerprint
    assert (second.info["run"]["feature_store"], second.info["run"]["reuse_features"]) == (
        f"s3://{BUCKET}/feature-store/", True)
    listed = local_s3_server.client().list_objects_v2(Bucket=BUCKET, Prefix="feature-store/")["Contents"]
    assert {item["Key"].split("/")[1] for item in listed} == {f"mobilenet_v2-{fingerprint}"}
    assert "feature_store" in second.info["timings_seconds"]


@pytest.fixture
def copy_of_sample(sample, tmp_path: Path) -> Path:
    """The sample in a folder of this test's, to change."""
    return Path(shutil.copytree(sample.root, tmp_path / "fruits-360"))


def test_changed_images_and_earlier_failures_are_featurized_again(spark, settings_in, plain, sample, copy_of_sample,
                                                                  tmp_path):
    settings = settings_in(inputs=(str(copy_of_sample),), feature_store=str(tmp_path / "store"), write_report=False)
    first = finished_run(spark, settings)
    (changed, source), fixed = sorted(plain.features)[:2], Path(sample.broken[0]).relative_to(sample.root)
    (copy_of_sample / changed).write_bytes((copy_of_sample / source).read_bytes())  # another picture
    (copy_of_sample / fixed).write_bytes((copy_of_sample / source).read_bytes())  # a failure, now a picture

    second = finished_run(spark, settings)

    assert second.counts == first.counts | {"images_featurized": 2, "images_reused": first.counts["images_featurized"] - 1,
                                            "images_failed": first.counts["images_failed"] - 1}
    for path in (changed, str(fixed)):
        np.testing.assert_array_equal(second.features[path], plain.features[source])
    assert str(fixed) not in second.reasons


def test_no_reuse_featurizes_every_image_and_still_keeps_what_it_computed(spark, settings_in, plain, tmp_path):
    store = tmp_path / "store"
    settings = settings_in(feature_store=str(store), write_report=False)
    finished_run(spark, settings)
    folder = feature_store.model_folder(f"file:{store}", plain.info["model"]["fingerprint"])
    kept = len(feature_store.committed_segments(folder))

    again = finished_run(spark, replace(settings, reuse_features=False))

    assert again.counts == plain.counts | {"images_reused": 0}
    assert again.info["run"]["reuse_features"] is False and "feature_store" not in again.info["timings_seconds"]
    assert len(feature_store.committed_segments(folder)) == 2 * kept
    assert_same_outputs(again, plain)


def test_a_run_failing_at_the_pca_leaves_every_feature_it_computed_to_the_next(spark, settings_in, plain, tmp_path,
                                                                              monkeypatch):
    settings = settings_in(feature_store=str(tmp_path / "store"), write_report=False)

    def broken_fit(*_arguments, **_keywords):
        raise MemoryError("the driver ran out of memory")

    with monkeypatch.context() as patch:
        patch.setattr(job, "fit_pca", broken_fit)
        with pytest.raises(MemoryError):
            job.run(spark, settings, Progress(enabled=False))
    assert not (Path(settings.output) / storage.SUCCESS_MARKER).exists()

    next_run = finished_run(spark, settings)

    assert next_run.counts == plain.counts | {"images_featurized": 0, "images_reused": plain.counts["images_featurized"]}
    assert_same_outputs(next_run, plain)


def test_a_run_stopped_while_featurizing_leaves_the_tasks_it_finished_to_the_next(spark, settings_in, plain, tmp_path):
    """Stopped (as a step times out or is cancelled) once a task has committed its segment: the next run reuses what
    the finished tasks stored, featurizes the rest, and its outputs are whole."""
    store = tmp_path / "store"
    settings = settings_in(feature_store=str(store), write_report=False, images_per_partition=8)
    commits = Path(feature_store.model_folder(str(store), plain.info["model"]["fingerprint"])) / "commits"
    stop = threading.Event()

    def cancel_after_the_first_commit() -> None:
        while not stop.wait(0.01):
            if commits.is_dir() and any(commits.iterdir()):
                spark.sparkContext.cancelAllJobs()
                return

    canceller = threading.Thread(target=cancel_after_the_first_commit)
    canceller.start()
    try:
        with pytest.raises(Exception, match="cancel"):
            job.run(spark, settings, Progress(enabled=False))
    finally:
        stop.set()
        canceller.join()

    next_run = finished_run(spark, settings)

    assert 0 < next_run.counts["images_reused"] < plain.counts["images_featurized"]
    assert without_reuse(next_run.counts) == without_reuse(plain.counts)
    assert next_run.counts["images_featurized"] + next_run.counts["images_reused"] == plain.counts["images_featurized"]
    assert_same_outputs(next_run, plain)
