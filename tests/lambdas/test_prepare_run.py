"""Prepare the run: manifests validated field by field, resolved, and turned into a cluster and a step."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchard_contract.manifest import InvalidManifest, job_setting_default, job_setting_schemas, schema_problems
from orchard_functions.aws_clients import READ_MAX_RETRIES
from orchard_functions.capacity import InstanceTypeNotOffered, RunExceedsQuota, SpotRoleMissing
from orchard_functions.input_survey import LISTING_RESERVE_MS
from orchard_local.account import ARTIFACTS_BUCKET, INPUTS_BUCKET, LOGS_BUCKET, OUTPUTS_BUCKET, REGION
from orchard_local.faults import faults_of
from orchard_local.lambda_service import FakeLambdaContext
from orchard_local.moto_fixes import ec2_vcpu_quotas
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


TRAINING = f"s3://{INPUTS_BUCKET}/fruits-360/Training/"
CLASSES = ("Apple Braeburn", "Apple Golden 1", "Banana", "Kiwi")
IMAGES_PER_CLASS = 8


@pytest.fixture
def aws(aws):
    """moto, the deployment's buckets, a small Fruits-360 layout in the inputs bucket (keys only matter), and an
    account ready for Spot (EC2's Spot service-linked role created, as the deploy checklist asks)."""
    s3 = boto3.client("s3")
    for label in CLASSES:
        for number in range(IMAGES_PER_CLASS):
            s3.put_object(Bucket=INPUTS_BUCKET, Key=f"fruits-360/Training/{label}/{number}_100.jpg", Body=b"\xff\xd8")
    boto3.client("iam").create_service_linked_role(AWSServiceName="spot.amazonaws.com")
    yield


@pytest.fixture
def s3_requests(aws) -> Iterator[Counter[str]]:
    """The S3 operations the function's own client sends, by name (botocore's before-call event)."""
    requests: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        requests[model.name] += 1

    app.s3.meta.events.register("before-call.s3", count)
    yield requests
    app.s3.meta.events.unregister("before-call.s3", count)


def event(execution_input: object, execution_arn: str = EXECUTION_ARN) -> dict:
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
    assert resolved["job"] == {"pca_components": 20, "image_size": 224, "weights": "imagenet", "engine": "onnxruntime",
                               "batch_size": 64, "write_csv": False, "reuse_features": True}
    args = plan["step"]["HadoopJarStep"]["Args"]
    code = f"s3://{ARTIFACTS_BUCKET}/code/0123456789abcdef"
    assert args == ["spark-submit", "--deploy-mode", "client", "--py-files", f"{code}/orchard_job.zip",
                    f"{code}/run_job.py", plan["manifest_uri"], "--output", plan["output_uri"],
                    "--model-store", f"s3://{ARTIFACTS_BUCKET}/models/",
                    "--feature-store", f"s3://{OUTPUTS_BUCKET}/feature-store/",
                    "--model-tools", "/opt/orchard/model-tools"]  # where the bootstrap action staged them
    assert plan["step"]["ActionOnFailure"] == "CONTINUE"
    assert plan["step_timeout_seconds"] == 180 * 60


def test_the_job_settings_defaults_are_resolved_once_by_the_plan(aws, lambda_context):
    """Each setting the manifest leaves out is written into the resolved manifest with the schema's default: the job
    on EMR reads it there, and the plan's k, which the checks before and after the job use, is that one."""
    put_keys("many/Training/Apple Braeburn/", job_setting_default("pca_components"))
    plan = app.handler(event({**MINI, "inputs": [f"s3://{INPUTS_BUCKET}/many/"], "select": {},
                              "job": {"engine": "tensorflow"}}), lambda_context)

    resolved = stored_json(plan["manifest_uri"])
    assert resolved["job"] == {name: schema["default"] for name, schema in job_setting_schemas().items()} | {
        "engine": "tensorflow"}
    assert plan["pca_components"] == resolved["job"]["pca_components"] == job_setting_default("pca_components")
    assert schema_problems(resolved) == []


def test_cluster_follows_the_deployment_and_the_allowed_overrides(aws, lambda_context):
    plain = app.handler(event({**MINI, "inputs": [TRAINING]}), lambda_context)
    primary, core = plain["cluster"]["Instances"]["InstanceFleets"]
    assert primary == {
        "Name": "Primary", "InstanceFleetType": "MASTER", "TargetOnDemandCapacity": 1,
        "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge", "WeightedCapacity": 1},
                                {"InstanceType": "m6i.xlarge", "WeightedCapacity": 1}],
        "LaunchSpecifications": {"OnDemandSpecification": {"AllocationStrategy": "lowest-price"}}}
    # the core fleet's capacity in vCPUs, each type weighted by its vCPUs as EC2 describes it
    assert (core["InstanceFleetType"], core["TargetOnDemandCapacity"], "TargetSpotCapacity" in core) == (
        "CORE", 16, False)
    assert core["InstanceTypeConfigs"] == [{"InstanceType": name, "WeightedCapacity": 8}
                                           for name in ("c6i.2xlarge", "c5.2xlarge", "c7i.2xlarge")]
    assert "SpotSpecification" not in core["LaunchSpecifications"]
    assert "Ec2SubnetIds" not in plain["cluster"]["Instances"]  # the test deployment gives no subnets
    assert plain["cluster"]["IdleTimeoutSeconds"] == 15 * 60
    assert plain["cluster"]["LogUri"] == f"s3://{LOGS_BUCKET}/emr/{plain['run_id']}/"
    assert plain["cluster"]["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True
    bootstrap = plain["cluster"]["BootstrapActions"][0]["ScriptBootstrapAction"]
    code = f"s3://{ARTIFACTS_BUCKET}/code/0123456789abcdef"
    assert bootstrap["Path"] == f"{code}/bootstrap/install.sh"
    # the same packages on every node; the primary stages the model tools' pins for the job (tests/test_bootstrap.py)
    assert bootstrap["Args"] == ["--requirements", f"{code}/requirements/job.txt",
                                 "--constraints", f"{code}/requirements/constraints.txt",
                                 "--venv", "/opt/orchard/venv",
                                 "--model-requirements", f"{code}/requirements/model.txt",
                                 "--stage-model-tools", "/opt/orchard/model-tools"]
    spark_defaults = next(c for c in plain["cluster"]["Configurations"] if c["Classification"] == "spark-defaults")
    assert spark_defaults["Properties"]["spark.pyspark.python"] == "/opt/orchard/venv/bin/python"
    # The job's boto3 reads the images: the stack's region reaches the executors and the driver.
    assert spark_defaults["Properties"]["spark.executorEnv.AWS_DEFAULT_REGION"] == REGION
    spark_env = next(c for c in plain["cluster"]["Configurations"] if c["Classification"] == "spark-env")
    assert spark_env["Configurations"][0]["Properties"]["AWS_DEFAULT_REGION"] == REGION

    overridden = {**MINI, "inputs": [TRAINING], "cluster": {
        "primary_instance_types": ["m6i.xlarge"], "core_instance_types": ["c6i.4xlarge", "c6i.2xlarge"],
        "core_vcpus": 64, "core_market": "SPOT"}}
    plan = app.handler(event(overridden), lambda_context)
    primary, core = plan["cluster"]["Instances"]["InstanceFleets"]
    assert [config["InstanceType"] for config in primary["InstanceTypeConfigs"]] == ["m6i.xlarge"]
    assert core["InstanceTypeConfigs"] == [{"InstanceType": "c6i.4xlarge", "WeightedCapacity": 16},
                                           {"InstanceType": "c6i.2xlarge", "WeightedCapacity": 8}]
    assert ("TargetOnDemandCapacity" in core, core["TargetSpotCapacity"]) == (False, 64)
    # Spot found by price and capacity, else on demand after 10 minutes rather than a failed run
    assert core["LaunchSpecifications"]["SpotSpecification"] == {
        "AllocationStrategy": "price-capacity-optimized", "TimeoutDurationMinutes": 10,
        "TimeoutAction": "SWITCH_TO_ON_DEMAND"}
    assert plan["fleets"][1] == {"role": "core", "weights": {"c6i.4xlarge": 16, "c6i.2xlarge": 8}, "capacity": 64,
                                 "unit": "vCPU", "market": "SPOT"}


def test_the_uploaded_version_is_the_one_run(aws, lambda_context):
    first = upload(MINI)
    upload({**MINI, "name": "changed"})

    plan = app.handler(event({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json", "version_id": first}),
                       lambda_context)

    assert plan["name"] == "mini"


def test_run_id_is_stable_for_an_execution_and_new_for_another(aws, lambda_context):
    manifest = {**MINI, "inputs": [TRAINING]}
    once = app.handler(event(manifest), lambda_context)["run_id"]
    again = app.handler(event(manifest), lambda_context)["run_id"]
    other = app.handler(event(manifest, EXECUTION_ARN + "-other"), lambda_context)["run_id"]
    assert once == again != other


def test_name_defaults_to_the_file_name(aws, lambda_context):
    upload({key: value for key, value in MINI.items() if key != "name"}, key="manifests/Apples only.json")
    plan = app.handler(event({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/Apples only.json"}), lambda_context)
    assert plan["name"] == stored_json(plan["manifest_uri"])["name"] == "Apples-only"  # the job reads it there
    assert plan["run_id"].startswith("Apples-only-")


def test_an_unnamed_inline_manifest_is_a_run(aws, lambda_context):
    plan = app.handler(event({key: value for key, value in MINI.items() if key != "name"} | {"inputs": [TRAINING]}),
                       lambda_context)
    assert plan["name"] == stored_json(plan["manifest_uri"])["name"] == "run"


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
    with pytest.raises(InvalidManifest) as raised:
        app.handler(event(manifest), lambda_context)
    assert problem in str(raised.value)
    assert str(raised.value).startswith("the execution input: invalid manifest")


def test_every_problem_is_listed_at_once(aws, lambda_context):
    upload({"manifest_version": 1, "inputs": [], "select": {"max_images": -1}})
    with pytest.raises(InvalidManifest) as raised:
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
    with pytest.raises(InvalidManifest, match=problem.replace("$", r"\$").replace(".", r"\.")):
        app.handler(event({"manifest_uri": uri}), lambda_context)


def test_nothing_is_written_for_an_invalid_manifest(aws, lambda_context):
    with pytest.raises(InvalidManifest):
        app.handler(event({**MINI, "inputs": [TRAINING], "job": {"engine": "torch"}}), lambda_context)
    assert boto3.client("s3").list_objects_v2(Bucket=OUTPUTS_BUCKET)["KeyCount"] == 0


# --- before any cluster: the inputs ---------------------------------------------------------------------------


def outputs_written() -> int:
    return boto3.client("s3").list_objects_v2(Bucket=OUTPUTS_BUCKET)["KeyCount"]


@pytest.mark.parametrize(("changes", "problem"), [
    ({"inputs": ["s3://someone-elses-images/fruits/"]},
     "$.inputs[0]: s3://someone-elses-images/fruits/ is in bucket 'someone-elses-images', which the cluster cannot "
     f"read: put the images in the inputs bucket '{INPUTS_BUCKET}'"),
    ({"inputs": [TRAINING, f"s3://{INPUTS_BUCKET}/fruits-360/Test/"]},
     f"$.inputs[1]: there is no object under s3://{INPUTS_BUCKET}/fruits-360/Test/"),
    ({"inputs": [f"s3://{INPUTS_BUCKET}/notes/"]},
     f"$.inputs[0]: none of the 2 objects under s3://{INPUTS_BUCKET}/notes/ is an image (.bmp, .gif, .jpeg, .jpg,"),
    ({"select": {"classes": ["Apple*", "Cherry*", "Banana"]}},
     "$.select.classes[1]: 'Cherry*' matches no class folder of images under the inputs"),
    ({"select": {"classes": ["Kiwi"]}, "job": {"pca_components": 9}},
     "$.job.pca_components: 9 components need at least 9 images, but the selection keeps 8 of those under the inputs"),
    ({"select": {"max_per_class": 3}, "job": {}},
     "$.job.pca_components (the default): 50 components need at least 50 images, but the selection keeps 12"),
    ({"select": {"max_images": 10}, "job": {"pca_components": 11}},
     "$.job.pca_components: 11 components need at least 11 images, but the selection keeps 10"),
])
def test_a_run_that_its_inputs_cannot_satisfy_fails_before_any_cluster(s3_requests, lambda_context, changes,
                                                                        problem):
    s3 = boto3.client("s3")
    for name in ("notes/readme.txt", "notes/labels.csv"):
        s3.put_object(Bucket=INPUTS_BUCKET, Key=name, Body=b"not an image")

    with pytest.raises(InvalidManifest) as raised:
        app.handler(event({**MINI, "inputs": [TRAINING], **changes}), lambda_context)

    assert problem in str(raised.value)
    assert s3_requests["PutObject"] == 0
    assert outputs_written() == 0


def test_inputs_that_satisfy_the_selection_plan_the_run(aws, lambda_context):
    manifest = {**MINI, "inputs": [TRAINING], "select": {"classes": ["Kiwi", "Banana"]}, "job": {"pca_components": 16}}

    assert app.handler(event(manifest), lambda_context)["pca_components"] == 16


def put_keys(prefix: str, count: int) -> None:
    s3 = boto3.client("s3")
    for number in range(count):
        s3.put_object(Bucket=INPUTS_BUCKET, Key=f"{prefix}{number:05d}_100.jpg", Body=b"")


@dataclass
class ShortOfTime(FakeLambdaContext):
    """A context whose function has less time left than the listing keeps in reserve."""

    def get_remaining_time_in_millis(self) -> int:
        return LISTING_RESERVE_MS - 1


def test_the_function_lists_only_the_pages_the_verdict_needs(s3_requests, lambda_context, caplog):
    put_keys("big/Training/Apple Braeburn/", 2001)  # three pages of ListObjectsV2: 1,000, 1,000 and 1 keys
    put_keys("big/Training/Zucchini/", 1)  # listed last
    big = {**MINI, "inputs": [f"s3://{INPUTS_BUCKET}/big/"]}

    app.handler(event({**big, "select": {"classes": ["Apple*"]}, "job": {"pca_components": 50}}), lambda_context)
    assert s3_requests == {"ListObjectsV2": 1, "PutObject": 1}

    s3_requests.clear()
    app.handler(event({**big, "select": {"classes": ["Apple*", "Zucchini"]}}), lambda_context)
    assert s3_requests == {"ListObjectsV2": 3, "PutObject": 1}

    s3_requests.clear()
    app.handler(event({**big, "select": {"classes": ["Cherry"]}}), ShortOfTime())  # no verdict: the job will tell
    assert s3_requests == {"PutObject": 1}
    assert "Listing stopped by its page budget or the clock" in caplog.text


# --- whatever the document: InvalidManifest, with the field and the reason -----------------------------------


@pytest.mark.parametrize(("execution_input", "problem"), [
    ([1, 2], "the execution input is an array; expected a JSON object"),
    ("s3://bucket/manifest.json", "the execution input is a string; expected a JSON object"),
    (None, "the execution input is null; expected a JSON object"),
    (3.5, "the execution input is a number; expected a JSON object"),
    ({"manifest_uri": 7}, "$.manifest_uri: a number, expected an s3:// URI string"),
    ({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json", "version_id": ["v1"]},
     "$.version_id: an array, expected a version id string"),
    ({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json", "name": "x"},
     "$.name: not allowed next to manifest_uri"),
    ({"manifest_uri": "s3://other-bucket/manifests/mini.json"},
     f"$.manifest_uri: s3://other-bucket/manifests/mini.json is not an object of the inputs bucket '{INPUTS_BUCKET}'"),
    ({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json", "version_id": "3HL4kqtJvjVBH40Nrjfkd"},
     f"s3://{INPUTS_BUCKET}/manifests/mini.json: no such manifest (version 3HL4kqtJvjVBH40Nrjfkd)"),
    ({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json", "version_id": ""},
     "$.version_id: empty; give the manifest's version id, or leave it out for the latest"),
    ({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/\ud800.json"},
     "the execution input: invalid manifest:\n  - $.manifest_uri: holds a lone surrogate (a \\uD800-\\uDFFF escape "
     "out of a pair), which is not Unicode text"),
    ({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json", "version_id": "v\udfff"},
     "$.version_id: holds a lone surrogate"),
    ({**MINI, "inputs": [f"s3://{INPUTS_BUCKET}/fruits\udc00/"]}, "$.inputs[0]: holds a lone surrogate"),
    ({**MINI, "inputs": [TRAINING], "job": {"pca_components": 5.0}}, "$.job.pca_components: 5.0 is not of type 'integer'"),
    ({**MINI, "inputs": [TRAINING], "select": {"max_images": 3e2}}, "$.select.max_images: 300.0 is not of type 'integer'"),
])
def test_an_execution_input_of_any_shape_is_named(aws, lambda_context, execution_input, problem):
    upload(MINI)
    with pytest.raises(InvalidManifest) as raised:
        app.handler(event(execution_input), lambda_context)
    assert problem in str(raised.value)


@pytest.mark.parametrize(("stored", "problem"), [
    (b"\xff\xfe{}", "manifests/mini.json: not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "manifests/mini.json: not valid JSON: nested too deeply"),
    (b'{"manifest_version": 1, "inputs": ["../a/"], "job": {"pca_components": NaN}}',
     "$.job.pca_components: nan is not of type 'integer'"),
    (b" " * (1024 * 1024 + 1), "manifests/mini.json: 1048577 bytes, more than a manifest's 1048576"),
    (b'"just a string"', "manifest: 'just a string' is not of type 'object'"),
    (b'{"manifest_version": 1, "inputs": ["../fruits\\ud800/"]}', "$.inputs[0]: holds a lone surrogate"),
    (b'{"manifest_version": 1, "inputs": ["../a/"], "job": {"batch_size": 64.0}}',
     "$.job.batch_size: 64.0 is not of type 'integer'"),
])
def test_a_manifest_file_of_any_content_is_named(aws, lambda_context, stored, problem):
    upload(stored)
    with pytest.raises(InvalidManifest) as raised:
        app.handler(event({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json"}), lambda_context)
    assert problem in str(raised.value)


ANY_TEXT = st.characters(exclude_categories=())  # lone surrogates included: JSON's \\ud800 escapes make them
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(ANY_TEXT, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(ANY_TEXT, max_size=12), inner, max_size=4),
    max_leaves=20,
)
IN_THE_INPUTS_BUCKET = st.text(ANY_TEXT, max_size=20).map(lambda key: f"s3://{INPUTS_BUCKET}/{key}")
NEARLY_A_MANIFEST = st.fixed_dictionaries(
    {"manifest_version": st.just(1) | JSON,
     "inputs": st.just([TRAINING]) | st.lists(IN_THE_INPUTS_BUCKET, min_size=1, max_size=2) | JSON},
    optional={"name": st.text(ANY_TEXT, max_size=50) | JSON, "select": st.dictionaries(
                  st.sampled_from(["classes", "max_per_class", "max_images", "seed", "other"]), JSON, max_size=3),
              "job": st.dictionaries(st.sampled_from(["pca_components", "image_size", "weights", "engine"]), JSON,
                                     max_size=3),
              "cluster": JSON},
)
ANY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def fails_only_as_invalid_manifest(execution_input: Any, lambda_context: Any) -> None:
    try:
        app.handler(event(execution_input), lambda_context)
    except InvalidManifest as error:
        assert str(error)


@ANY_SETTINGS
@given(execution_input=JSON | NEARLY_A_MANIFEST | st.fixed_dictionaries(
    {"manifest_uri": IN_THE_INPUTS_BUCKET | JSON}, optional={"version_id": st.text(ANY_TEXT, max_size=8) | JSON}))
def test_any_execution_input_plans_a_run_or_is_an_invalid_manifest(aws, lambda_context, execution_input):
    fails_only_as_invalid_manifest(execution_input, lambda_context)


@ANY_SETTINGS
@given(body=st.binary(max_size=200) | NEARLY_A_MANIFEST.map(lambda d: json.dumps(d).encode()))
def test_any_manifest_file_plans_a_run_or_is_an_invalid_manifest(aws, lambda_context, body):
    upload(body)
    fails_only_as_invalid_manifest({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json"}, lambda_context)


def test_a_long_message_keeps_each_field_and_reason_and_stays_short(aws, lambda_context):
    upload({"manifest_version": 1, "inputs": ["../a/"], "description": "x" * 900_000,
            "select": {"classes": list(range(5000))}})

    with pytest.raises(InvalidManifest) as raised:
        app.handler(event({"manifest_uri": f"s3://{INPUTS_BUCKET}/manifests/mini.json"}), lambda_context)

    lines = str(raised.value).split("\n  - ")
    assert len(str(raised.value)) < 4000
    assert lines[0] == f"s3://{INPUTS_BUCKET}/manifests/mini.json: invalid manifest:"
    assert lines[1].startswith("$.description: 'xxx") and lines[1].endswith("xxx' is too long")
    assert "xxx [... 899729 characters ...] xxx" in lines[1]  # of a 900,029-character problem, 300 are kept
    assert lines[2:5] == ["$.select.classes[0]: 0 is not of type 'string'", "$.select.classes[1]: 1 is not of type "
                          "'string'", "$.select.classes[10]: 10 is not of type 'string'"]
    assert lines[-1] == "and 4981 more problems"


# --- before any cluster: the account's EC2 quotas, and the Spot service-linked role ---------------------------


ON_DEMAND_QUOTA, SPOT_QUOTA = "L-1216C47A", "L-34B43A08"
SPOT_CORES = {"core_instance_types": ["c6i.4xlarge"], "core_vcpus": 64, "core_market": "SPOT"}


def logged(caplog: pytest.LogCaptureFixture, level: str) -> list[dict[str, Any]]:
    """What the function logged at `level`: each message with its keys (Powertools' `extra`)."""
    return [{"message": record.getMessage(), **vars(record)} for record in caplog.records if record.levelname == level]


@pytest.fixture
def quotas(aws) -> Iterator[dict[str, float]]:
    """EC2's Standard vCPU quotas as Service Quotas answers them, by quota code, for the test to set."""
    with ec2_vcpu_quotas() as answered:
        yield answered


@pytest.fixture
def account_requests(aws) -> Iterator[Counter[str]]:
    """The operations the function's Service Quotas, EC2 and IAM clients send, by name."""
    requests: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        requests[model.name] += 1

    clients = (app.service_quotas, app.ec2, app.iam)
    for client in clients:
        client.meta.events.register("before-call", count)
    yield requests
    for client in clients:
        client.meta.events.unregister("before-call", count)


def test_a_run_over_the_on_demand_quota_is_refused_by_name_before_anything_is_written(
        s3_requests, account_requests, quotas, lambda_context):
    quotas[ON_DEMAND_QUOTA] = 16  # the default cluster: a 4-vCPU primary node and 16 core vCPUs

    with pytest.raises(RunExceedsQuota) as raised:
        app.handler(event({**MINI, "inputs": [TRAINING]}), lambda_context)

    message = str(raised.value)
    assert message.startswith("the execution input: the cluster needs 20 On-Demand vCPUs")
    assert ('quota "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances" (Service Quotas, service code '
            f"ec2, quota code L-1216C47A) allows in {REGION}: 16 vCPUs") in message
    assert ("primary: 1 of m5.xlarge, m6i.xlarge (4 vCPUs at least) + core: 16 vCPUs of c6i.2xlarge, c5.2xlarge, "
            "c7i.2xlarge = 20 vCPUs") in message
    assert (f"aws service-quotas request-service-quota-increase --region {REGION} --service-code ec2 --quota-code "
            "L-1216C47A --desired-value 20") in message
    assert "or run a smaller cluster" in message
    assert s3_requests == {}  # refused before the inputs are listed, and nothing written
    assert outputs_written() == 0
    assert account_requests == {"DescribeInstanceTypes": 1, "GetServiceQuota": 1}


def test_a_spot_run_over_the_spot_quota_is_refused_by_name(s3_requests, quotas, lambda_context):
    quotas[SPOT_QUOTA] = 32

    with pytest.raises(RunExceedsQuota) as raised:
        app.handler(event({**MINI, "inputs": [TRAINING], "cluster": SPOT_CORES}), lambda_context)

    message = str(raised.value)
    assert ('the cluster needs 64 Spot vCPUs of the Standard families, more than the account\'s quota "All Standard '
            "(A, C, D, H, I, M, R, T, Z) Spot Instance Requests\" (Service Quotas, service code ec2, quota code "
            f"L-34B43A08) allows in {REGION}: 32 vCPUs. The cluster: core: 64 vCPUs of c6i.4xlarge = 64 vCPUs.") in message
    assert "On-Demand vCPUs" not in message  # the primary node's 4 fit the On-Demand quota
    assert "or core_market ON_DEMAND" in message
    assert outputs_written() == 0 and s3_requests["PutObject"] == 0


def test_a_run_over_both_quotas_names_both(quotas, lambda_context):
    quotas.update({ON_DEMAND_QUOTA: 2, SPOT_QUOTA: 8})

    with pytest.raises(RunExceedsQuota) as raised:
        app.handler(event({**MINI, "inputs": [TRAINING], "cluster": SPOT_CORES}), lambda_context)

    assert "L-1216C47A" in str(raised.value) and "L-34B43A08" in str(raised.value)


@pytest.mark.parametrize("changes", [{}, {"cluster": SPOT_CORES}])
def test_a_run_that_just_fits_its_quotas_is_planned(quotas, lambda_context, changes):
    quotas.update({ON_DEMAND_QUOTA: 20, SPOT_QUOTA: 64})  # the default cluster's 20; the Spot cores' 64

    plan = app.handler(event({**MINI, "inputs": [TRAINING], **changes}), lambda_context)

    assert outputs_written() == 1 and plan["run_id"].startswith("mini-")


@pytest.mark.parametrize(("fault", "reason"), [
    (None, "NoSuchResourceException"),  # the quota not in Service Quotas (moto answers so when it does not hold it)
    ("AccessDeniedException", "AccessDeniedException"),
    ("TooManyRequestsException", "TooManyRequestsException"),  # throttled, past the client's retries
])
def test_when_service_quotas_cannot_answer_the_run_goes_on_with_a_warning(
        quotas, lambda_context, caplog, monkeypatch, fault, reason):
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda seconds: None)  # the retries' backoff
    quotas[ON_DEMAND_QUOTA] = 1  # an answer would refuse the run
    if fault is None:
        del quotas[ON_DEMAND_QUOTA]

    with faults_of(app.service_quotas) as faults:
        if fault:
            faults.answer("GetServiceQuota", fault, times=10)
        plan = app.handler(event({**MINI, "inputs": [TRAINING]}), lambda_context)

    assert plan["run_id"].startswith("mini-") and outputs_written() == 1
    (warning,) = logged(caplog, "WARNING")
    assert warning["message"] == "Service Quotas did not answer: this quota is not checked"
    assert warning["quota_code"] == ON_DEMAND_QUOTA and warning["reason"].startswith(reason)
    if fault == "TooManyRequestsException":
        assert faults.sent == ["GetServiceQuota"] * (READ_MAX_RETRIES + 1)


def test_an_instance_type_ec2_does_not_offer_refuses_the_run_by_its_field(s3_requests, quotas, lambda_context):
    with pytest.raises(InstanceTypeNotOffered) as raised:
        app.handler(event({**MINI, "inputs": [TRAINING], "cluster": {"core_instance_types": ["c6i.2xlarge",
                                                                                              "c99q.huge"]}}),
                    lambda_context)

    assert str(raised.value).startswith(f"the execution input: EC2 offers no such instance type in {REGION}: "
                                        "'c99q.huge' ($.cluster.core_instance_types).")
    assert outputs_written() == 0 and s3_requests == {}


def test_instance_types_outside_the_standard_families_are_not_checked_and_are_logged(
        quotas, account_requests, lambda_context, caplog):
    quotas[ON_DEMAND_QUOTA] = 0  # would refuse any Standard instance
    gpus = {"primary_instance_types": ["g5.xlarge"], "core_instance_types": ["g5.2xlarge"]}

    plan = app.handler(event({**MINI, "inputs": [TRAINING], "cluster": gpus}), lambda_context)

    assert [list(fleet["weights"]) for fleet in plan["fleets"]] == [["g5.xlarge"], ["g5.2xlarge"]]
    # the types' vCPUs (the fleets' weights), and nothing to count against the Standard quotas
    assert account_requests == {"DescribeInstanceTypes": 1}
    (skipped,) = [entry for entry in logged(caplog, "INFO") if "not checked" in entry["message"]]
    assert skipped["instance_types"] == ["g5.2xlarge", "g5.xlarge"]


def test_a_spot_run_without_the_spot_service_linked_role_is_refused_with_the_command_to_create_it(
        aws, s3_requests, account_requests, lambda_context):
    boto3.client("iam").delete_role(RoleName="AWSServiceRoleForEC2Spot")

    with pytest.raises(SpotRoleMissing) as raised:
        app.handler(event({**MINI, "inputs": [TRAINING], "cluster": SPOT_CORES}), lambda_context)

    message = str(raised.value)
    assert "the cluster asks for Spot instances (core: 64 vCPUs of c6i.4xlarge)" in message
    assert "no service-linked role AWSServiceRoleForEC2Spot" in message
    assert "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com" in message
    assert outputs_written() == 0 and s3_requests == {}
    assert account_requests["GetRole"] == 1

    account_requests.clear()
    app.handler(event({**MINI, "inputs": [TRAINING]}), lambda_context)  # On-Demand: the role is not asked for
    assert "GetRole" not in account_requests


def test_the_command_the_refusal_names_makes_the_spot_run_pass(aws, lambda_context):
    iam = boto3.client("iam")
    iam.delete_role(RoleName="AWSServiceRoleForEC2Spot")
    spot_run = event({**MINI, "inputs": [TRAINING], "cluster": SPOT_CORES})
    with pytest.raises(SpotRoleMissing):
        app.handler(spot_run, lambda_context)

    iam.create_service_linked_role(AWSServiceName="spot.amazonaws.com")  # the command, through the API

    assert app.handler(spot_run, lambda_context)["fleets"][1]["market"] == "SPOT"


# --- the subnets' zones: only those that offer a type of each fleet ------------------------------------------------


@pytest.fixture
def subnets(aws, monkeypatch) -> dict[str, str]:
    """A subnet in each of the region's three zones (moto's eu-west-1 offers c8a.2xlarge in a and b only, m8id.2xlarge
    in b and c only), by zone; the deployment's SubnetIds are set by each test."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    return {zone: ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{16 * index}.0/20",
                                    AvailabilityZone=zone)["Subnet"]["SubnetId"]
            for index, zone in enumerate(f"{REGION}{letter}" for letter in "abc")}


def deploy_subnets(monkeypatch, *subnet_ids: str) -> None:
    monkeypatch.setenv("SUBNET_IDS", ",".join(subnet_ids))


def test_every_subnet_whose_zone_offers_a_type_of_each_fleet_is_given_to_emr(subnets, monkeypatch, lambda_context):
    deploy_subnets(monkeypatch, subnets["eu-west-1a"], subnets["eu-west-1b"])

    plan = app.handler(event({**MINI, "inputs": [TRAINING]}), lambda_context)

    assert plan["cluster"]["Instances"]["Ec2SubnetIds"] == [subnets["eu-west-1a"], subnets["eu-west-1b"]]


def test_a_subnet_whose_zone_cannot_fill_a_fleet_is_left_out_and_logged(subnets, monkeypatch, lambda_context,
                                                                        caplog):
    deploy_subnets(monkeypatch, subnets["eu-west-1a"], subnets["eu-west-1b"])

    plan = app.handler(event({**MINI, "inputs": [TRAINING], "cluster": {"core_instance_types": ["m8id.2xlarge"]}}),
                       lambda_context)

    assert plan["cluster"]["Instances"]["Ec2SubnetIds"] == [subnets["eu-west-1b"]]  # m8id: not in eu-west-1a
    (left_out,) = [entry for entry in logged(caplog, "INFO") if "left out" in entry["message"]]
    assert (left_out["subnet_ids"], left_out["zones"]) == ([subnets["eu-west-1a"]], ["eu-west-1a"])


def test_a_run_no_subnet_of_which_can_fill_its_fleets_is_refused_naming_what_each_zone_lacks(
        subnets, monkeypatch, s3_requests, lambda_context):
    deploy_subnets(monkeypatch, subnets["eu-west-1c"])

    with pytest.raises(InstanceTypeNotOffered) as raised:
        app.handler(event({**MINI, "inputs": [TRAINING], "cluster": {"core_instance_types": ["c8a.2xlarge"]}}),
                    lambda_context)

    assert str(raised.value).startswith(
        "the execution input: no subnet of the cluster is in an Availability Zone where EC2 offers an instance type of "
        "each fleet (primary: m5.xlarge, m6i.xlarge; core: c8a.2xlarge): eu-west-1c "
        f"({subnets['eu-west-1c']}) offers none of the core types.")
    assert outputs_written() == 0 and s3_requests == {}


def test_when_ec2_cannot_say_which_zones_offer_the_types_every_subnet_is_kept(subnets, monkeypatch, lambda_context,
                                                                               caplog):
    deploy_subnets(monkeypatch, subnets["eu-west-1a"], "subnet-0000000000000000f")  # EC2 knows no such subnet

    plan = app.handler(event({**MINI, "inputs": [TRAINING]}), lambda_context)

    assert plan["cluster"]["Instances"]["Ec2SubnetIds"] == [subnets["eu-west-1a"], "subnet-0000000000000000f"]
    (warning,) = logged(caplog, "WARNING")
    assert warning["message"] == "EC2 did not say which zones offer the instance types: every subnet is kept"
    assert warning["reason"].startswith("InvalidSubnetID.NotFound")
