"""An image is never lost for its name: the job on a folder, then on S3 (moto's server on the loopback), of JPEGs
whose splits, classes and files have odd names (helpers.ODD_NAMES) featurizes every one, and names each by the
same path in every output."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from helpers import driver_environment, write_odd_tree
from orchard_features import job, storage
from orchard_features.progress import Progress
from orchard_local.local_s3 import LocalS3, upload_folder

pytestmark = pytest.mark.spark

QUIET = Progress(enabled=False)
BUCKET = "orchard-odd-names"  # moto's backends are process-wide: a name no other test uses
PREFIX = "odd #1?/fruits 100%"


@dataclass(frozen=True)
class Run:
    """One finished run on the odd tree: where its input was, its counts, and each output's rows by path."""

    root: str
    counts: dict[str, int]
    paths: dict[str, list[str]]  # output folder -> the paths it holds, sorted
    metadata: dict[str, tuple[str, str, str]]  # path -> (split, label, status)
    reasons: dict[str, str]


def finished_run(spark, settings, root: str) -> Run:
    """Run the job on `root` with `settings` and read back its outputs."""
    info = job.run(spark, replace(settings, inputs=(root,)), QUIET)

    def rows(name: str) -> list:
        return storage.read_parquet(spark, settings.output, name).collect()

    return Run(
        root=root,
        counts=info["counts"],
        paths={name: sorted(row.path for row in rows(name)) for name in ("features", "pca", "metadata")},
        metadata={row.path: (row.split, row.label, row.status) for row in rows("metadata")},
        reasons={row.path: row.reason for row in rows("errors")},
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, dict[str, tuple[str, str]]]:
    """The odd tree as JPEGs in a folder whose own name is odd: (the folder, (split, label) by relative path)."""
    root = tmp_path_factory.mktemp("odd-names") / "in #1? 100%"
    return root, write_odd_tree(root)


@pytest.fixture(scope="module")
def runs(spark, tree, base_settings, onnx_model, local_s3_server: LocalS3, tmp_path_factory) -> tuple[Run, Run]:
    """The tree read from its folder, then from the local S3 (uploaded just before: see conftest's server)."""
    root, _ = tree
    output = tmp_path_factory.mktemp("odd-names-output")
    local = finished_run(spark, replace(base_settings, output=str(output / "local")), f"file:{root}")
    upload_folder(local_s3_server.client(), root, BUCKET, PREFIX)
    with driver_environment(local_s3_server):
        on_s3 = finished_run(spark, replace(base_settings, output=str(output / "s3")), f"s3://{BUCKET}/{PREFIX}")
    return local, on_s3


@pytest.mark.parametrize("source", ["folder", "s3"])
def test_every_image_is_featurized_whatever_its_name(runs, tree, source):
    run = runs[source == "s3"]
    _, expected = tree
    assert run.reasons == {}
    assert run.counts == {"images_read": len(expected), "images_featurized": len(expected), "images_reused": 0,
                          "images_failed": 0, "classes": len({label for _, label in expected.values()})}


@pytest.mark.parametrize("source", ["folder", "s3"])
def test_every_output_names_an_image_by_its_path_as_written_with_its_folders_as_split_and_label(runs, tree, source):
    run = runs[source == "s3"]
    _, expected = tree
    paths = sorted(f"{run.root}/{relative}" for relative in expected)
    assert run.paths == {"features": paths, "pca": paths, "metadata": paths}
    assert run.metadata == {f"{run.root}/{relative}": (split, label, "featurized")
                            for relative, (split, label) in expected.items()}
