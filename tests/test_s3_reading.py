"""The job reading its images from S3 (moto's server on the loopback, every request delayed) gives what it
gives on the same files in a local folder: the same counts, features and failure reasons, file by file."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from helpers import driver_environment, relative_error
from orchard_features import job, storage
from orchard_features.progress import Progress
from orchard_local.local_s3 import LocalS3, upload_folder

pytestmark = pytest.mark.spark

QUIET = Progress(enabled=False)
BUCKET = "orchard-s3-reading"  # moto's backends are process-wide: a name no other test uses
PREFIX = "fruits-360"
LATENCY_SECONDS = 0.02


@dataclass(frozen=True)
class Run:
    """One finished run: its counts, its outputs keyed by the path relative to the input, the S3 requests made."""

    counts: dict[str, int]
    features: dict[str, np.ndarray]
    metadata: dict[str, tuple]
    reasons: dict[str, str]
    requests: dict[str, int]


def relative(path: str, root: str) -> str:
    """`path` without the input `root` it was found under."""
    assert path.startswith(root + "/"), (path, root)
    return path[len(root) + 1:]


def finished_run(spark, settings, root: str, server: LocalS3) -> Run:
    """Run the job with `settings` and read back its outputs."""
    server.reset_counts()
    info = job.run(spark, settings, QUIET)
    requests = server.request_counts()

    def rows(name: str):
        return storage.read_parquet(spark, settings.output, name).collect()

    return Run(
        counts=info["counts"],
        features={relative(row.path, root): np.array(row.features) for row in rows("features")},
        metadata={relative(row.path, root): (row.label, row.split, row.width, row.height, row.mode, row.status)
                  for row in rows("metadata")},
        reasons={relative(row.path, root): row.reason for row in rows("errors")},
        requests=requests,
    )


@pytest.fixture(scope="module")
def runs(spark, sample, base_settings, onnx_model, local_s3_server: LocalS3, tmp_path_factory) -> tuple[Run, Run]:
    """The sample read from its local folder, then from the local S3 at `LATENCY_SECONDS` per request."""
    output = tmp_path_factory.mktemp("s3-reading")
    local = finished_run(spark, replace(base_settings, output=str(output / "local")), f"file:{sample.root}",
                         local_s3_server)

    local_s3_server.latency_seconds = 0
    upload_folder(local_s3_server.client(), sample.root, BUCKET, PREFIX)
    s3_input = f"s3://{BUCKET}/{PREFIX}"
    local_s3_server.latency_seconds = LATENCY_SECONDS
    try:
        with driver_environment(local_s3_server):
            on_s3 = finished_run(spark, replace(base_settings, inputs=(s3_input,), output=str(output / "s3")),
                                 s3_input, local_s3_server)
    finally:
        local_s3_server.latency_seconds = 0
    return local, on_s3


def test_the_s3_run_reads_every_image_from_the_local_s3_once(runs, sample):
    local, on_s3 = runs
    assert local.requests == {}
    assert on_s3.requests["GetObject"] == sample.images
    assert on_s3.requests["ListObjectsV2"] >= 1


def test_counts_are_the_same(runs, sample):
    local, on_s3 = runs
    assert on_s3.counts == local.counts
    assert on_s3.counts["images_read"] == sample.images


def test_features_are_the_same_image_by_image(runs):
    local, on_s3 = runs
    assert sorted(on_s3.features) == sorted(local.features)
    keys = sorted(local.features)
    assert relative_error(np.stack([on_s3.features[key] for key in keys]),
                          np.stack([local.features[key] for key in keys])) < 1e-6


def test_failures_have_the_same_reasons_for_the_same_files(runs, sample):
    local, on_s3 = runs
    assert on_s3.reasons == local.reasons
    assert sorted(key.rsplit("/", 1)[-1] for key in on_s3.reasons) == sorted(
        path.rsplit("/", 1)[-1] for path in sample.broken)


def test_metadata_are_the_same_image_by_image(runs):
    local, on_s3 = runs
    assert on_s3.metadata == local.metadata
