"""Start from upload: a manifest upload starts one execution, named after the object version."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from orchard_contract.manifest import readable_stem
from orchard_contract.run_names import (
    FALLBACK_STEM,
    MAX_STEM_LENGTH,
    execution_arn,
    execution_name,
    is_manifest_key,
)
from orchard_local.account import ACCOUNT, INPUTS_BUCKET, REGION, STATE_MACHINE_ARN
from orchard_local.events import object_created_event

VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
PASS_DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


@pytest.fixture
def stepfunctions(aws):
    """moto Step Functions holding the pipeline's state machine under the ARN the function is given."""
    client = boto3.client("stepfunctions", region_name=REGION)
    created = client.create_state_machine(
        name="orchard-pipeline",
        definition=json.dumps(PASS_DEFINITION),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/orchard-pipeline-state-machine",
    )
    assert created["stateMachineArn"] == STATE_MACHINE_ARN
    return client


@pytest.fixture
def app():
    from start_from_upload import app

    return app


def upload(key: str, body: bytes = b'{"name": "mini"}', bucket: str = INPUTS_BUCKET) -> dict:
    """Put an object in moto S3 and return the EventBridge "Object Created" event S3 sends for it."""
    put = boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key, Body=body)
    return object_created_event(bucket, key, put, len(body))


def executions(stepfunctions) -> list[dict]:
    return stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]


def test_a_manifest_upload_starts_one_execution_with_the_reference_as_input(app, stepfunctions, lambda_context):
    event = upload("manifests/mini.json")

    result = app.handler(event, lambda_context)

    [execution] = executions(stepfunctions)
    described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
    assert result == {
        "outcome": "started",
        "execution_name": execution["name"],
        "execution_arn": execution["executionArn"],
    }
    assert json.loads(described["input"]) == {
        "manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json",
        "version_id": event["detail"]["object"]["version-id"],
    }
    assert re.fullmatch(r"mini-[0-9a-f]{16}", execution["name"])


def test_the_same_event_twice_starts_one_execution(app, stepfunctions, lambda_context):
    event = upload("manifests/mini.json")

    first = app.handler(event, lambda_context)
    second = app.handler(event, lambda_context)

    assert len(executions(stepfunctions)) == 1
    assert second["execution_arn"] == first["execution_arn"]


def test_a_duplicate_after_the_execution_ended_starts_nothing(app, stepfunctions, lambda_context):
    event = upload("manifests/mini.json")
    first = app.handler(event, lambda_context)
    stepfunctions.stop_execution(executionArn=first["execution_arn"])

    again = app.handler(event, lambda_context)

    assert again == {
        "outcome": "already exists",
        "execution_name": first["execution_name"],
        "execution_arn": first["execution_arn"],
    }
    assert len(executions(stepfunctions)) == 1


def test_a_new_version_of_the_manifest_starts_a_new_execution(app, stepfunctions, lambda_context):
    first = app.handler(upload("manifests/mini.json"), lambda_context)
    second = app.handler(upload("manifests/mini.json", b'{"name": "mini", "pca": {"k": 10}}'), lambda_context)

    assert len(executions(stepfunctions)) == 2
    assert first["execution_name"] != second["execution_name"]
    assert second["execution_name"].startswith("mini-")


def test_an_unversioned_bucket_names_the_execution_by_etag(app, stepfunctions, lambda_context):
    bucket = "orchard-inputs-unversioned"
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    event = upload("manifests/mini.json", bucket=bucket)
    assert "version-id" not in event["detail"]["object"]

    first = app.handler(event, lambda_context)
    same_content = app.handler(upload("manifests/mini.json", bucket=bucket), lambda_context)
    new_content = app.handler(upload("manifests/mini.json", b'{"name": "other"}', bucket=bucket), lambda_context)

    [started] = [e for e in executions(stepfunctions) if e["name"] == first["execution_name"]]
    input_ = json.loads(stepfunctions.describe_execution(executionArn=started["executionArn"])["input"])
    assert input_ == {"manifest_uri": f"s3://{bucket}/manifests/mini.json"}
    assert same_content["execution_name"] == first["execution_name"]
    assert new_content["execution_name"] != first["execution_name"]
    assert len(executions(stepfunctions)) == 2


@pytest.mark.parametrize(
    "key",
    [
        "images/apple/1_100.jpg",
        "manifests/mini.yaml",
        "manifests/mini.json.bak",
        "old/manifests/mini.json",
        "manifests.json",
    ],
)
def test_other_keys_are_ignored(app, stepfunctions, lambda_context, key):
    result = app.handler(upload(key), lambda_context)

    assert result == {"outcome": "ignored", "object": f"s3://{INPUTS_BUCKET}/{key}"}
    assert executions(stepfunctions) == []


def test_a_key_with_odd_characters_gives_a_valid_name_and_the_exact_uri(app, stepfunctions, lambda_context):
    key = "manifests/team a/Äpfel & Birnen (v2)+final #1.json"

    result = app.handler(upload(key), lambda_context)

    [execution] = executions(stepfunctions)
    input_ = json.loads(stepfunctions.describe_execution(executionArn=execution["executionArn"])["input"])
    assert input_["manifest_uri"] == f"s3://{INPUTS_BUCKET}/{key}"
    assert VALID_NAME.fullmatch(result["execution_name"])
    assert result["execution_name"].startswith("Apfel-Birnen-v2-final-1-")


@pytest.mark.parametrize(
    ("key", "stem"),
    [
        ("manifests/mini.json", "mini"),
        ("manifests/APPLES_2026-11.json", "APPLES_2026-11"),
        ("manifests/sub/dir/full.json", "full"),
        ("manifests/my run.v2.json", "my-run-v2"),
        ("manifests/__ünïcödé__.json", "unicode"),
        ("manifests/日本語.json", "manifest"),
        ("manifests/.json", "manifest"),
        ("manifests/" + "x" * 200 + ".json", "x" * 63),
        ("manifests/" + "a" * 62 + "-b.json", "a" * 62),
    ],
)
def test_the_readable_stem_keeps_the_allowed_characters_of_the_file_name(key, stem):
    assert readable_stem(key, MAX_STEM_LENGTH, FALLBACK_STEM) == stem


@pytest.mark.parametrize(
    "key",
    [
        "manifests/mini.json",
        "manifests/" + "é" * 300 + ".json",
        "manifests/" + "-" * 100 + ".json",
        "manifests/a b\tc\n.json",
    ],
)
def test_execution_names_are_valid_for_step_functions(key):
    assert VALID_NAME.fullmatch(execution_name(INPUTS_BUCKET, key, "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "d41d8cd9"))


def test_the_name_depends_on_bucket_key_and_revision():
    name = execution_name("b", "manifests/m.json", "v1", "e1")

    assert name == execution_name("b", "manifests/m.json", "v1", "e2")  # the version decides when there is one
    assert name != execution_name("other", "manifests/m.json", "v1", "e1")
    assert name != execution_name("b", "manifests/sub/m.json", "v1", "e1")
    assert name != execution_name("b", "manifests/m.json", "v2", "e1")
    assert execution_name("b", "manifests/m.json", None, "e1") != execution_name("b", "manifests/m.json", None, "e2")
    assert execution_name("b", "manifests/m.json", None, '"e1"') == execution_name("b", "manifests/m.json", None, "e1")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("manifests/a.json", True),
        ("manifests/x/a.json", True),
        ("manifests/a.JSON", False),
        ("a/manifests/a.json", False),
    ],
)
def test_manifest_keys_match_the_rule_wildcard(key, expected):
    assert is_manifest_key(key) is expected


def test_execution_arn_of_a_name():
    assert (
        execution_arn(STATE_MACHINE_ARN, "mini-0123")
        == f"arn:aws:states:{REGION}:{ACCOUNT}:execution:orchard-pipeline:mini-0123"
    )
