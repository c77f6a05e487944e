"""The features files the feature stage's tasks write themselves, without Spark: one file per partition that a retry
never duplicates, read back as written, moved into the outputs in a folder and on S3, by requests the clusters'
instance role is granted in the deployed output prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from helpers import local_s3_bucket
from orchard_contract.run_outputs import FEATURE_DIMENSION, FEATURES_OUTPUT
from orchard_features import feature_files
from orchard_features.feature_files import (
    FEATURIZED_KIND,
    feature_matrix,
    move_files,
    read_features,
    staging_folder,
    write_task_file,
)
from orchard_features.store_files import list_names

BUCKET = "orchard-feature-files"  # moto's backends are process-wide: a name no other test uses


def rows(paths: list[str], seed: int = 0) -> pa.Table:
    """A task's featurized rows (as the feature store's segment columns give them): paths and features."""
    features = np.random.default_rng(seed).normal(size=(len(paths), FEATURE_DIMENSION)).astype(np.float32)
    vectors = pa.FixedSizeListArray.from_arrays(features.ravel(), FEATURE_DIMENSION).cast(pa.list_(pa.float32()))
    return pa.table({"path": paths, "content": ["size=1"] * len(paths), "features": vectors})


@pytest.fixture(params=["folder", "s3"])
def output(request, tmp_path: Path) -> Iterator[str]:
    """An output prefix: a local folder, or a prefix of the local S3."""
    if request.param == "folder":
        yield f"file:{tmp_path}/output"
        return
    with local_s3_bucket(request.getfixturevalue("local_s3_server"), BUCKET):
        yield f"s3://{BUCKET}/{tmp_path.name}/output"


def test_a_task_file_holds_the_outputs_columns_and_the_features_as_computed(output):
    staging = staging_folder(output)
    assert staging.endswith("/_staging")  # hidden from Spark, the check of the outputs and the job's listing
    written = rows(["file:/data/Training/Kiwi/1.jpg", "file:/data/Test/Lemon/a b#c.jpg"])
    write_task_file(staging, FEATURIZED_KIND, written)
    [file] = feature_files.feature_files(staging)
    assert file.endswith("/part-featurized-00000.parquet")  # no Spark task: partition 0
    table = read_features(file)
    assert table.column_names == FEATURES_OUTPUT.names
    assert table["label"].to_pylist() == ["Kiwi", "Lemon"]
    np.testing.assert_array_equal(feature_matrix(table), feature_matrix(written))


def test_a_retried_task_never_adds_a_file_and_an_empty_one_writes_none(output):
    staging = staging_folder(output)
    first = rows(["file:/data/Training/Kiwi/1.jpg"], seed=1)
    write_task_file(staging, FEATURIZED_KIND, first)
    write_task_file(staging, FEATURIZED_KIND, rows(["file:/data/Training/Kiwi/1.jpg"], seed=1))  # its retry
    write_task_file(staging, "reused", first.slice(0, 0))
    [file] = feature_files.feature_files(staging)
    np.testing.assert_array_equal(feature_matrix(read_features(file)), feature_matrix(first))


def test_files_move_into_the_output_folder_under_their_names(output):
    staging = staging_folder(output)
    write_task_file(staging, FEATURIZED_KIND, rows(["file:/data/Training/Kiwi/1.jpg"]))
    write_task_file(staging, "reused", rows(["file:/data/Training/Kiwi/2.jpg"]))
    staged = feature_files.feature_files(staging)
    moved = move_files(staged, f"{output}/features")
    assert list_names(f"{output}/features") == ["part-featurized-00000.parquet", "part-reused-00000.parquet"]
    assert moved == [f"{output}/features/{name}" for name in list_names(f"{output}/features")]
    assert list_names(staging) == []
    assert read_features(moved[1])["path"].to_pylist() == ["file:/data/Training/Kiwi/2.jpg"]


def test_the_clusters_instance_role_may_stage_and_move_features_in_a_runs_output_prefix(monkeypatch):
    """A run's output prefix as Prepare plans it, written and moved with the EMR instance role: each request checked
    against the role's policies with the Service Authorization Reference's actions (a CopyObject needs s3:GetObject
    on its source and s3:PutObject on its destination: S3 API Reference, "CopyObject",
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html)."""
    import boto3
    from moto import mock_aws

    from iam_coverage import missing_grants
    from orchard_features import sources
    from orchard_local.deployed import physical_names
    from orchard_local.principals import Principals

    bucket = physical_names()["OutputsBucket"]
    output = f"s3://{bucket}/runs/mini-20261207T120000Z-0123abcd"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        sources.s3_client.cache_clear()
        boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        principals = Principals()
        principals["EmrInstanceRole"].watch(sources.s3_client().meta.events)
        staging = staging_folder(output)
        write_task_file(staging, FEATURIZED_KIND, rows(["s3://in/Training/Kiwi/1.jpg"]))
        move_files(feature_files.feature_files(staging), f"{output}/features")
        assert read_features(f"{output}/features/part-featurized-00000.parquet").num_rows == 1
    sources.s3_client.cache_clear()

    assert {call.operation.name for call in principals.calls} == {
        "PutObject", "ListObjectsV2", "CopyObject", "DeleteObject", "GetObject"}
    assert missing_grants(principals.calls) == []
