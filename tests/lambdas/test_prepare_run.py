"""Prepare the run: manifests validated field by field, resolved, and turned into a cluster and a step."""

from __future__ import annotations

import json

import boto3
import pytest

from aws_deployment import ARTIFACTS_BUCKET, INPUTS_BUCKET, LOGS_BUCKET, OUTPUTS_BUCKET, REGION
from prepare_run import app

EXECUTION_ARN = f"arn:aws:states:{REGION}:123456789012:execution:orchard-pipeline:manual-1"
STARTED_AT = "2026-11-27T21:05:01.250Z"
MINI = {
    "manifest_version": 1,
    "name": "mini",
    "inputs": ["../fruits-360/Training/"],
    "select": {"classes": ["Apple*", "Banana"], "max_per_class": 60},
    "job": {"pca_components": 20},
}


def event(execution_input: dict, execution_arn: str = EXECUTION_ARN) -> dict:
    return {"input": execution_input, "execution_arn": execution_arn, "execution_started_at": STARTED_AT}


def upload(document: object, key: str = "manifests/mini.json") -> str:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    response = boto3.client("s3").put_object(Bucket=INPUTS_BUCKET, Key=key, Body=body)
    return response["VersionId"]


def stored_json(uri: str) -> dict:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_uploaded_manifest_is_resolved_stored_and_planned(aws, lambda_context):
    upload(MINI)

    plan = app.handler(event({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json"}), lambda_context)

    assert plan["run_id"].startswith("mini-20261127T210501Z-")
    assert plan["output_uri"] == f"s3://{OUTPUTS_BUCKET}/runs/{plan['run_id']}/"
    assert plan["pca_components"] == 20
    resolved = stored_json(plan["manifest_uri"])
    assert resolved["inputs"] == [f"s3://{INPUTS_BUCKET}/fruits-360/Training"]
    assert resolved["select"] == {"seed": 42, "classes": ["Apple*", "Banana"], "max_per_class": 60}
    assert resolved["job"] == {"pca_components": 20}
    args = plan["step"]["HadoopJarStep"]["Args"]
    code = f"s3://{ARTIFACTS_BUCKET}/code/0123456789abcdef"
    assert args == ["spark-submit", "--deploy-mode", "client", "--py-files", f"{code}/orchard_features.zip",
                    f"{code}/run_job.py", plan["manifest_uri"], "--output", plan["output_uri"],
                    "--model-store", f"s3://{ARTIFACTS_BUCKET}/models/"]
    assert plan["step"]["ActionOnFailure"] == "CONTINUE"
    assert plan["step_timeout_seconds"] == 180 * 60


def test_cluster_follows_the_deployment_and_the_allowed_overrides(aws, lambda_context):
    plain = app.handler(event({**MINI, "inputs": ["s3://images/fruits/"]}), lambda_context)
    groups = plain["cluster"]["Instances"]["InstanceGroups"]
    assert [(g["InstanceRole"], g["InstanceType"], g["InstanceCount"], g["Market"]) for g in groups] == [
        ("MASTER", "m5.xlarge", 1, "ON_DEMAND"), ("CORE", "c6i.2xlarge", 2, "ON_DEMAND")]
    assert plain["cluster"]["IdleTimeoutSeconds"] == 15 * 60
    assert plain["cluster"]["LogUri"] == f"s3://{LOGS_BUCKET}/emr/{plain['run_id']}/"
    assert plain["cluster"]["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True
    bootstrap = plain["cluster"]["BootstrapActions"][0]["ScriptBootstrapAction"]
    code = f"s3://{ARTIFACTS_BUCKET}/code/0123456789abcdef"
    assert bootstrap["Path"] == f"{code}/bootstrap/install.sh"
    assert bootstrap["Args"] == ["--requirements", f"{code}/requirements/job.txt",
                                 "--model-requirements", f"{code}/requirements/model.txt",
                                 "--constraints", f"{code}/requirements/constraints.txt",
                                 "--venv", "/opt/orchard/venv"]
    spark_defaults = next(c for c in plain["cluster"]["Configurations"] if c["Classification"] == "spark-defaults")
    assert spark_defaults["Properties"]["spark.pyspark.python"] == "/opt/orchard/venv/bin/python"

    overridden = {**MINI, "inputs": ["s3://images/fruits/"],
                  "cluster": {"core_instance_type": "c6i.4xlarge", "core_instance_count": 4, "core_market": "SPOT"}}
    plan = app.handler(event(overridden), lambda_context)
    core = plan["cluster"]["Instances"]["InstanceGroups"][1]
    assert (core["InstanceType"], core["InstanceCount"], core["Market"]) == ("c6i.4xlarge", 4, "SPOT")
    assert plan["instances"][1] == {"role": "core", "type": "c6i.4xlarge", "count": 4, "market": "SPOT"}


def test_the_uploaded_version_is_the_one_run(aws, lambda_context):
    first = upload(MINI)
    upload({**MINI, "name": "changed"})

    plan = app.handler(event({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json", "version_id": first}),
                       lambda_context)

    assert plan["name"] == "mini"


def test_run_id_is_stable_for_an_execution_and_new_for_another(aws, lambda_context):
    manifest = {**MINI, "inputs": ["s3://images/fruits/"]}
    once = app.handler(event(manifest), lambda_context)["run_id"]
    again = app.handler(event(manifest), lambda_context)["run_id"]
    other = app.handler(event(manifest, EXECUTION_ARN + "-other"), lambda_context)["run_id"]
    assert once == again != other


def test_name_defaults_to_the_file_name(aws, lambda_context):
    upload({key: value for key, value in MINI.items() if key != "name"}, key="manifests/Apples only.json")
    plan = app.handler(event({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/Apples only.json"}), lambda_context)
    assert plan["name"] == "Apples-only"


@pytest.mark.parametrize(("manifest", "problem"), [
    ({"manifest_version": 1}, "manifest: 'inputs' is a required property"),
    ({**MINI, "manifest_version": 2}, "$.manifest_version: 1 was expected"),
    ({**MINI, "select": {"classes": "Apple*"}}, "$.select.classes: 'Apple*' is not of type 'array'"),
    ({**MINI, "job": {"pca_components": 0}}, "$.job.pca_components: 0 is less than the minimum of 1"),
    ({**MINI, "cluster": {"release_label": "emr-6.0.0"}}, "$.cluster: Additional properties are not allowed"),
    ({**MINI, "cluster": {"core_market": "CHEAP"}}, "$.cluster.core_market: 'CHEAP' is not one of"),
    ({**MINI, "colour": "red"}, "manifest: Additional properties are not allowed ('colour' was unexpected)"),
    (MINI, "$.inputs[0]: '../fruits-360/Training/' is relative; a manifest given inline needs s3:// inputs"),
    ({**MINI, "inputs": ["file:/data/images"]}, "$.inputs[0]: 'file:/data/images' is not an s3:// URI"),
])
def test_each_problem_of_an_inline_manifest_is_named(aws, lambda_context, manifest, problem):
    with pytest.raises(app.InvalidManifest) as raised:
        app.handler(event(manifest), lambda_context)
    assert problem in str(raised.value)
    assert str(raised.value).startswith("the execution input: invalid manifest")


def test_every_problem_is_listed_at_once(aws, lambda_context):
    upload({"manifest_version": 1, "inputs": [], "select": {"max_images": -1}})
    with pytest.raises(app.InvalidManifest) as raised:
        app.handler(event({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json"}), lambda_context)
    message = str(raised.value)
    assert message.startswith(f"s3://{INPUTS_BUCKET}/manifests/mini.json: invalid manifest")
    assert "$.inputs: [] should be non-empty" in message
    assert "$.select.max_images: -1 is less than the minimum of 1" in message


@pytest.mark.parametrize(("stored", "uri", "problem"), [
    (b"{not json", f"s3://{INPUTS_BUCKET}/manifests/mini.json", "manifests/mini.json: not valid JSON"),
    (None, f"s3://{INPUTS_BUCKET}/manifests/absent.json", "manifests/absent.json: no such manifest"),
    (None, "https://example.com/mini.json", "$.manifest_uri: 'https://example.com/mini.json' is not an s3:// URI"),
])
def test_unreadable_manifests_are_named(aws, lambda_context, stored, uri, problem):
    if stored is not None:
        upload(stored)
    with pytest.raises(app.InvalidManifest, match=problem.replace("$", r"\$").replace(".", r"\.")):
        app.handler(event({"manifest_uri": uri}), lambda_context)


def test_nothing_is_written_for_an_invalid_manifest(aws, lambda_context):
    with pytest.raises(app.InvalidManifest):
        app.handler(event({**MINI, "inputs": ["s3://images/"], "job": {"engine": "torch"}}), lambda_context)
    assert boto3.client("s3").list_objects_v2(Bucket=OUTPUTS_BUCKET)["KeyCount"] == 0
