"""The whole workflow with the EMR step really computed: the feature job in local Spark on moto's S3, keeping what it
computed in the deployment's feature store; every AWS call each principal made granted by the deployed template."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from helpers import TEST_IMAGE_SIZE
from iam_coverage import missing_grants
from orchard_local.account import REGION
from orchard_local.emr_sync import EmrBehaviour
from orchard_local.spark_step import SparkStep, upload_folder
from orchard_local.stack import MOTO_CONFIG, deployed

pytestmark = pytest.mark.spark


def recorded_names(s3: Any, output_uri: str) -> dict[str, str]:
    """The run's name as the job recorded it in its two documents."""
    bucket, prefix = output_uri.removeprefix("s3://").split("/", 1)

    def stored(key: str) -> Any:
        return json.loads(s3.get_object(Bucket=bucket, Key=prefix + key)["Body"].read())

    return {"model_info.json": stored("model_info/model_info.json")["run"]["name"],
            "_SUCCESS": stored("_SUCCESS")["run_name"]}


def test_an_upload_runs_the_real_job_and_its_outputs_pass_the_check(spark, sample, model_cache, tmp_path):
    step = SparkStep(spark=spark, mirror=tmp_path / "s3",
                     adjust_settings=lambda settings: replace(settings, model_cache=model_cache, images_per_partition=16))
    manifest = {"manifest_version": 1, "inputs": ["../fruits-360/Training/"],  # unnamed: named after its file
                "job": {"weights": "none", "image_size": TEST_IMAGE_SIZE, "pca_components": 10, "batch_size": 16}}

    with mock_aws(config=MOTO_CONFIG), deployed(EmrBehaviour(run_step=step)) as stack:
        upload_folder(boto3.client("s3", region_name=REGION), sample.root, f"s3://{stack.names['InputsBucket']}/fruits-360/")
        started = stack.deliver(stack.upload_manifest("manifests/sample.json", manifest))
        execution = stack.wait(started["execution_arn"], timeout_seconds=300)
        clusters = stack.cluster_states()
        recorded = (recorded_names(boto3.client("s3", region_name=REGION), execution.output["run"]["output_uri"])
                    if execution.status == "SUCCEEDED" else {})
        stored = boto3.client("s3", region_name=REGION).list_objects_v2(
            Bucket=stack.names["OutputsBucket"], Prefix="feature-store/").get("Contents", [])

    assert execution.status == "SUCCEEDED", execution.cause
    outputs = execution.output["outputs"]
    assert outputs["images_read"] == sample.images
    assert outputs["failed"] == len(sample.broken)
    assert (outputs["featurized"], outputs["reused"]) == (sample.images - len(sample.broken), 0)
    assert outputs["pca_components"] == 10 and outputs["weights_are_random"] is True
    assert list(clusters.values()) == ["TERMINATED"]
    assert execution.output["run"]["name"] == execution.output["summary"]["name"] == "sample"
    assert recorded == {"model_info.json": "sample", "_SUCCESS": "sample"}
    folders = {tuple(item["Key"].split("/")[1:3]) for item in stored}  # the model's folder, then segments or commits
    assert len({folder for folder, _ in folders}) == 1 and {kind for _, kind in folders} == {"segments", "commits"}
    assert missing_grants(stack.calls) == []
