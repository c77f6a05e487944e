"""The real state machine, run by moto's interpreter: each way a run goes, state by state.

Lambda tasks run the real handlers in-process; EMR tasks go through the `.sync` adapter, whose
step outcome each test chooses (a successful step writes a feature job's outputs in miniature, with
the S3 client of the cluster's nodes). After each test, every AWS call each principal made must be
granted by the deployed template's policies.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from iam_coverage import Missing, missing_grants
from job_outputs import JobOutputs, write_outputs
from orchard_features.settings import parse_arguments, settings_from_arguments
from orchard_functions.costs import load_price_table
from orchard_local import deployed as aws_deployed
from orchard_local.account import REGION
from orchard_local.emr_fleets import FleetLaunch
from orchard_local.emr_sync import EmrBehaviour, StepResult
from orchard_local.spark_step import job_arguments
from orchard_local.stack import MOTO_CONFIG, Execution, LocalStack, deployed

MANIFEST = {
    "manifest_version": 1,
    "name": "mini",
    "inputs": ["../fruits-360/Training/"],
    "select": {"classes": ["Kiwi"]},
    "job": {"pca_components": 5},
}
KIWIS = 6  # images of the manifest's class in the inputs bucket: more than its pca_components
HAPPY_PATH = ["Prepare the run", "Take a cluster slot", "Create the EMR cluster", "Run the feature job",
              "Terminate the cluster", "Release the cluster slot", "Check the outputs", "Record the run's metrics"]
FAILURE_END = ["Record the failed run", "Notify of the failure", "Fail the run"]
RELEASE_AFTER_FAILURE = "Release the cluster slot after the failure"


def happy_path_up_to(state: str) -> list[str]:
    """The happy path's states up to `state`, included."""
    return HAPPY_PATH[:HAPPY_PATH.index(state) + 1]


def output_of(step: dict[str, Any]) -> str:
    """The output URI the step's spark-submit arguments name."""
    args = step["HadoopJarStep"]["Args"]
    return args[args.index("--output") + 1]


def job_writing(**write: bool) -> Callable[[dict[str, Any], boto3.Session], StepResult]:
    """A step that completes after writing the feature job's outputs (in miniature) where it was told."""
    def run(step: dict[str, Any], node: boto3.Session) -> StepResult:
        write_outputs(node.client("s3"), JobOutputs(output_uri=output_of(step)), **write)
        return StepResult("COMPLETED")
    return run


def job_reading_its_manifest(step: dict[str, Any], node: boto3.Session) -> StepResult:
    """A step whose job takes its settings as the job does on EMR, from the step's arguments and the resolved
    manifest they name, then writes its outputs (in miniature) under its settings' output and run name."""
    s3 = node.client("s3")

    def read_text(uri: str) -> str:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    settings = settings_from_arguments(parse_arguments(job_arguments(step["HadoopJarStep"]["Args"])), read_text)
    write_outputs(s3, JobOutputs(output_uri=settings.output, run_name=settings.run_name))
    return StepResult("COMPLETED")


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    """The stack deployed; afterwards, every call its principals made must be granted by the deployed template."""
    with mock_aws(config=MOTO_CONFIG), deployed(EmrBehaviour(run_step=job_writing())) as deployment:
        s3 = boto3.client("s3", region_name=REGION)
        for number in range(KIWIS):  # what Prepare the run lists before it plans a cluster (keys only matter)
            s3.put_object(Bucket=deployment.names["InputsBucket"], Key=f"fruits-360/Training/Kiwi/{number}_100.jpg",
                          Body=b"\xff\xd8")
        yield deployment
    assert missing_grants(deployment.calls) == []


def run_upload(stack: LocalStack, manifest: dict[str, Any] = MANIFEST) -> Execution:
    """Upload the manifest; its Object Created event, through the template's rule, starts the execution."""
    (started,) = stack.publish(stack.upload_manifest("manifests/mini.json", manifest))
    return stack.wait(started["execution_arn"], timeout_seconds=120)


def emf_metrics(captured: str) -> dict[str, float]:
    """The metrics of the EMF documents printed by the functions (metric name -> value)."""
    metrics: dict[str, float] = {}
    for line in captured.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[definition["Name"]]
                metrics[definition["Name"]] = value[0] if isinstance(value, list) else value
    return metrics


def assert_run_recorded(captured: str, succeeded: bool) -> None:
    """Record metrics ran once for the run and counted it as it ended."""
    metrics = emf_metrics(captured)
    assert (metrics["RunSucceeded"], metrics["RunFailed"]) == ((1.0, 0.0) if succeeded else (0.0, 1.0))


def assert_every_cluster_terminated(stack: LocalStack, expected_clusters: int = 1) -> None:
    states = stack.cluster_states()
    assert len(states) == expected_clusters
    assert set(states.values()) <= {"TERMINATED", "TERMINATED_WITH_ERRORS"}


def test_a_manifest_upload_runs_the_whole_workflow(stack, capsys):
    execution = run_upload(stack)

    assert execution.status == "SUCCEEDED"
    assert execution.state_names == HAPPY_PATH
    assert_every_cluster_terminated(stack)
    (step,) = stack.emr.steps_run
    assert step["HadoopJarStep"]["Args"][:3] == ["spark-submit", "--deploy-mode", "client"]
    summary = execution.output["summary"]
    assert (summary["status"], summary["counts"]["images_read"], summary["cost"]["estimated_usd"] > 0) == (
        "SUCCEEDED", 12, True)
    assert {"RunSucceeded": 1.0, "RunFailed": 0.0, "ImagesRead": 12.0, "ImagesFeaturized": 6.0, "ImagesReused": 4.0,
            "ImagesFailed": 2.0}.items() <= emf_metrics(capsys.readouterr().out).items()
    stored = boto3.client("s3", region_name=REGION).get_object(
        Bucket=stack.names["OutputsBucket"], Key=f"runs/{summary['run_id']}/run_summary.json")
    assert json.loads(stored["Body"].read())["status"] == "SUCCEEDED"
    (cluster_id,) = stack.cluster_states()
    assert summary["links"]["step_logs"].startswith(
        f"s3://{stack.names['LogsBucket']}/emr/{summary['run_id']}/{cluster_id}/steps/s-")
    assert stack.notices() == []


def test_the_same_upload_event_twice_starts_one_execution(stack):
    event = stack.upload_manifest("manifests/mini.json", MANIFEST)

    first, second = stack.deliver(event), stack.deliver(event)
    stack.wait(first["execution_arn"], timeout_seconds=120)
    third = stack.deliver(event)  # delivered again after the run ended

    assert first["execution_arn"] == second["execution_arn"] == third["execution_arn"]
    executions = stack.stepfunctions.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert len(executions) == 1
    assert len(stack.emr.steps_run) == 1


def test_a_failed_spark_step_terminates_the_cluster_and_is_not_run_again(stack, capsys):
    stack.emr.run_step = lambda step, node: StepResult("FAILED", "Step failed with exitCode 1")

    execution = run_upload(stack)

    assert execution.status == "FAILED"
    assert execution.error == "States.TaskFailed"
    assert "Step failed with exitCode 1" in execution.cause
    assert execution.state_names == happy_path_up_to("Run the feature job") + [
        "Terminate the cluster after the failure", RELEASE_AFTER_FAILURE] + FAILURE_END
    assert len(stack.emr.steps_run) == 1
    assert_every_cluster_terminated(stack)
    assert_run_recorded(capsys.readouterr().out, succeeded=False)
    (notice,) = stack.notices()
    assert notice["Subject"] == "Orchard run failed" and "States.TaskFailed" in notice["Message"]


def test_a_cluster_that_fails_to_start_is_terminated_by_its_tag(stack, capsys):
    stack.emr.cluster_starts = False

    execution = run_upload(stack)

    assert execution.status == "FAILED"
    assert execution.error == "States.TaskFailed" and "BOOTSTRAP_FAILURE" in execution.cause
    assert execution.state_names == happy_path_up_to("Create the EMR cluster") + [
        "Terminate any cluster of this run", RELEASE_AFTER_FAILURE] + FAILURE_END
    assert stack.emr.steps_run == []
    assert_every_cluster_terminated(stack)
    assert_run_recorded(capsys.readouterr().out, succeeded=False)
    assert len(stack.notices()) == 1


@pytest.mark.parametrize(("written", "error"), [
    ({"marker": False}, "SuccessMarkerMissing"),
    ({"model_info": False}, "ModelInfoMissing"),
])
def test_outputs_that_fail_their_check_fail_the_run_after_termination(stack, capsys, written, error):
    stack.emr.run_step = job_writing(**written)

    execution = run_upload(stack)

    assert (execution.status, execution.error) == ("FAILED", error)
    assert execution.state_names == happy_path_up_to("Check the outputs") + FAILURE_END
    assert_every_cluster_terminated(stack)
    assert_run_recorded(capsys.readouterr().out, succeeded=False)
    assert error in stack.notices()[0]["Message"]


def test_outputs_whose_counts_do_not_add_up_fail_the_run(stack, capsys):
    def step_losing_a_pca_part_file(step: dict[str, Any], node: boto3.Session) -> StepResult:
        result = job_writing()(step, node)
        s3 = node.client("s3")
        bucket, prefix = output_of(step).removeprefix("s3://").split("/", 1)
        (lost,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "pca/part-00001")["Contents"]]
        s3.delete_object(Bucket=bucket, Key=lost)
        return result
    stack.emr.run_step = step_losing_a_pca_part_file

    execution = run_upload(stack)

    assert (execution.status, execution.error) == ("FAILED", "CountsDoNotAddUp")
    assert "pca/" in execution.cause
    assert execution.state_names == happy_path_up_to("Check the outputs") + FAILURE_END
    assert_every_cluster_terminated(stack)
    assert_run_recorded(capsys.readouterr().out, succeeded=False)
    assert "CountsDoNotAddUp" in stack.notices()[0]["Message"]


def test_a_failure_to_record_metrics_fails_the_run_with_a_notice(stack, capsys):
    def broken(event: Any, context: Any) -> Any:
        raise PermissionError("AccessDenied: s3:PutObject on run_summary.json")
    stack.lambdas.handlers[stack.function_arn("RecordMetricsFunction")] = broken

    execution = run_upload(stack)

    assert (execution.status, execution.error) == ("FAILED", "PermissionError")
    assert execution.state_names == HAPPY_PATH + ["Notify of the failure", "Fail the run"]
    assert_every_cluster_terminated(stack)
    assert emf_metrics(capsys.readouterr().out) == {}  # the one function that records them failed
    assert "PermissionError" in stack.notices()[0]["Message"]


def test_a_throttled_lambda_is_retried_and_the_run_succeeds(stack, capsys):
    stack.lambdas.throttle(stack.function_arn("PrepareRunFunction"))

    execution = run_upload(stack)

    assert execution.status == "SUCCEEDED"
    assert execution.states[0].name == "Prepare the run" and execution.states[0].attempts == 2
    assert execution.state_names == HAPPY_PATH
    assert_every_cluster_terminated(stack)
    assert_run_recorded(capsys.readouterr().out, succeeded=True)
    assert stack.notices() == []


def test_an_invalid_manifest_fails_before_any_cluster_with_each_problem_named(stack, capsys):
    execution = run_upload(stack, {**MANIFEST, "select": {"max_images": 0}, "job": {"engine": "torch"}})

    assert (execution.status, execution.error) == ("FAILED", "InvalidManifest")
    assert "$.select.max_images: 0 is less than the minimum of 1" in execution.cause
    assert "$.job.engine: 'torch' is not one of" in execution.cause
    assert execution.state_names == ["Prepare the run", "Keep only the error"] + FAILURE_END
    assert stack.cluster_states() == {}
    assert emf_metrics(capsys.readouterr().out) == {"RunSucceeded": 0.0, "RunFailed": 1.0}
    assert "InvalidManifest" in stack.notices()[0]["Message"]


@pytest.mark.parametrize("execution_input", [[MANIFEST], "manifests/mini.json", 5, None],
                         ids=["array", "string", "number", "null"])
def test_an_input_that_is_no_json_object_fails_recorded_and_notified(stack, capsys, execution_input):
    """Prepare's Catch must not put the error into the input: "ResultPath": "$.error" cannot be applied to an array,
    a string, a number or null, and the Catch itself fails (States.ResultPathMatchFailure on AWS, States.Runtime in
    moto), the failure unrecorded and unnotified."""
    execution = stack.wait(stack.start(execution_input), timeout_seconds=120)

    assert (execution.status, execution.error) == ("FAILED", "InvalidManifest")
    assert execution.state_names == ["Prepare the run", "Keep only the error"] + FAILURE_END
    assert stack.cluster_states() == {}
    assert_run_recorded(capsys.readouterr().out, succeeded=False)
    (notice,) = stack.notices()
    assert "InvalidManifest" in notice["Message"]


def test_a_cluster_over_the_accounts_vcpu_quota_fails_before_any_cluster_with_the_quota_named(stack, capsys):
    stack.quotas["L-1216C47A"] = 16  # the default cluster needs 20 On-Demand vCPUs

    execution = run_upload(stack)

    assert (execution.status, execution.error) == ("FAILED", "RunExceedsQuota")
    message = json.loads(execution.cause)["errorMessage"]  # the cause: Lambda's function error
    assert ('"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances" (Service Quotas, service code ec2, '
            "quota code L-1216C47A) allows in eu-west-1: 16 vCPUs") in message
    assert ("primary: 1 of m5.xlarge, m6i.xlarge (4 vCPUs at least) + core: 16 vCPUs of c6i.2xlarge, c5.2xlarge, "
            "c7i.2xlarge = 20 vCPUs") in message
    assert execution.state_names == ["Prepare the run", "Keep only the error"] + FAILURE_END
    assert stack.cluster_states() == {}
    assert_run_recorded(capsys.readouterr().out, succeeded=False)
    (notice,) = stack.notices()
    assert "RunExceedsQuota" in notice["Message"] and "L-1216C47A" in notice["Message"]


def test_a_spot_run_checks_its_quota_and_the_spot_role_with_the_grants_of_the_template(stack, capsys):
    """The account has EC2's Spot service-linked role (the deploy checklist): the run goes on; the stack fixture then
    checks Prepare's GetServiceQuota, DescribeInstanceTypes and GetRole against its role's policies."""
    spot = {**MANIFEST, "cluster": {"core_market": "SPOT"}}

    execution = run_upload(stack, spot)

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["run"]["fleets"][1]["market"] == "SPOT"
    prepared = {call.operation.name for call in stack.calls if call.principal == "PrepareRunFunctionRole"}
    assert {"GetServiceQuota", "DescribeInstanceTypes", "GetRole"} <= prepared
    assert_every_cluster_terminated(stack)
    # EMR found the Spot capacity: the core nodes cost the Spot price EC2 gives for their type, zone and launch
    spot_lines = [line for line in execution.output["summary"]["cost"]["breakdown"] if line["market"] == "SPOT"]
    assert [(line["role"], line["type"], line["count"], line["ec2_rate"]) for line in spot_lines] == [
        ("core", "c6i.2xlarge", 2, "Spot price at launch")]
    (priced,) = [call for call in stack.calls if call.operation.name == "DescribeSpotPriceHistory"]
    assert priced.principal == "RecordMetricsFunctionRole" and priced.params["InstanceTypes"] == ["c6i.2xlarge"]


def test_the_cluster_is_instance_fleets_in_the_stacks_two_zones_and_its_cost_follows_what_emr_launched(stack):
    """The request (checked against botocore's EMR model by the interpreter's clients) asks for a primary and a core
    fleet of several types, in both of the stack's subnets; EMR filled the core fleet with c7i.2xlarge nodes (the
    last listed, found where the cheaper ones were not) and the primary with an m6i.xlarge: the cost prices those."""
    stack.emr.launch = lambda fleet: FleetLaunch(
        "c7i.2xlarge" if fleet["InstanceFleetType"] == "CORE" else "m6i.xlarge", "ON_DEMAND")

    execution = run_upload(stack)

    assert execution.status == "SUCCEEDED", execution.cause
    (request,) = [call.params for call in stack.calls if call.operation.name == "RunJobFlow"]
    instances = request["Instances"]
    assert instances["Ec2SubnetIds"] == [stack.names["ClusterSubnetA"], stack.names["ClusterSubnetB"]]
    assert [(fleet["InstanceFleetType"], [config["InstanceType"] for config in fleet["InstanceTypeConfigs"]])
            for fleet in instances["InstanceFleets"]] == [
        ("MASTER", ["m5.xlarge", "m6i.xlarge"]), ("CORE", ["c6i.2xlarge", "c5.2xlarge", "c7i.2xlarge"])]
    cost = execution.output["summary"]["cost"]
    assert [(line["role"], line["type"], line["market"], line["count"]) for line in cost["breakdown"]] == [
        ("primary", "m6i.xlarge", "ON_DEMAND", 1), ("core", "c7i.2xlarge", "ON_DEMAND", 2)]
    table = load_price_table(REGION)
    assert cost["estimated_usd"] == pytest.approx(round(sum(
        line["billed_seconds"] * (table.instances[line["type"]].ec2 + table.instances[line["type"]].emr) / 3600
        for line in cost["breakdown"]), 4))
    assert all(line["billed_seconds"] >= 60 * line["count"] for line in cost["breakdown"])
    assert_every_cluster_terminated(stack)


def test_a_manual_start_with_an_inline_manifest_runs(stack, capsys):
    inline = {**MANIFEST, "inputs": [f"s3://{stack.names['InputsBucket']}/fruits-360/Training/"]}

    execution = stack.wait(stack.start(inline), timeout_seconds=120)

    assert execution.status == "SUCCEEDED"
    assert execution.output["summary"]["name"] == "mini"
    assert_every_cluster_terminated(stack)
    assert_run_recorded(capsys.readouterr().out, succeeded=True)


def test_a_throttled_termination_is_retried_and_the_run_succeeds(stack, capsys):
    stack.emr.fail_next("TerminateJobFlows")

    execution = run_upload(stack)

    assert execution.status == "SUCCEEDED"
    assert execution.state_names == HAPPY_PATH
    terminate = execution.states[HAPPY_PATH.index("Terminate the cluster")]
    assert terminate.attempts == 2
    assert_every_cluster_terminated(stack)
    assert_run_recorded(capsys.readouterr().out, succeeded=True)


def test_a_creation_failing_with_the_generic_emr_error_is_not_retried_and_leaves_no_cluster(stack, capsys):
    """RunJobFlow succeeded, then EMR answered the first DescribeCluster with throttling: the task fails with
    EMR's generic error, which may as well carry a validation or access error. Creating again could start a
    second cluster, so the cluster is terminated by its tag and the run fails."""
    stack.emr.fail_next("DescribeCluster")

    execution = run_upload(stack)

    assert (execution.status, execution.error) == ("FAILED", "EMR.AmazonElasticMapReduceException")
    assert execution.state_names == happy_path_up_to("Create the EMR cluster") + [
        "Terminate any cluster of this run", RELEASE_AFTER_FAILURE] + FAILURE_END
    assert execution.states[HAPPY_PATH.index("Create the EMR cluster")].attempts == 1
    assert_every_cluster_terminated(stack)
    assert_run_recorded(capsys.readouterr().out, succeeded=False)


def test_a_stray_cluster_of_the_execution_is_terminated_after_a_successful_run(stack):
    def step_with_a_stray_cluster(step: dict[str, Any], node: boto3.Session) -> StepResult:
        """As if a second cluster had been created for this execution: same tags, never terminated by the states."""
        emr = boto3.client("emr", region_name=REGION)
        (cluster,) = [emr.describe_cluster(ClusterId=c["Id"])["Cluster"] for c in emr.list_clusters()["Clusters"]]
        emr.run_job_flow(Name="stray", ReleaseLabel="emr-7.13.0", JobFlowRole="orchard-emr-instance-profile",
                         ServiceRole="orchard-emr-service-role", Tags=cluster["Tags"],
                         Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                                    "KeepJobFlowAliveWhenNoSteps": True})
        return job_writing()(step, node)
    stack.emr.run_step = step_with_a_stray_cluster

    execution = run_upload(stack)

    assert execution.status == "SUCCEEDED"
    assert_every_cluster_terminated(stack, expected_clusters=2)


def test_a_start_that_keeps_failing_puts_the_event_in_the_lost_events_queue(stack):
    def broken(event: Any, context: Any) -> Any:
        raise ConnectionError("Could not connect to the endpoint URL: states.eu-west-1.amazonaws.com")
    stack.lambdas.handlers[stack.function_arn("StartFromUploadFunction")] = broken
    event = stack.upload_manifest("manifests/mini.json", MANIFEST)

    assert stack.publish(event) == []

    (record,) = stack.lost_events()
    assert record["requestPayload"] == event
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorType"] == "ConnectionError"
    assert stack.stepfunctions.list_executions(stateMachineArn=stack.state_machine_arn)["executions"] == []


def test_a_manual_start_naming_a_missing_manifest_fails_before_any_cluster(stack, capsys):
    execution = stack.wait(stack.start({"manifest_uri": f"s3://{stack.names['InputsBucket']}/manifests/gone.json"}),
                           timeout_seconds=120)

    assert (execution.status, execution.error) == ("FAILED", "InvalidManifest")
    assert "no such manifest" in execution.cause
    assert execution.state_names == ["Prepare the run", "Keep only the error"] + FAILURE_END
    assert stack.cluster_states() == {}
    assert_run_recorded(capsys.readouterr().out, succeeded=False)


def test_a_request_that_does_not_match_the_service_api_is_rejected(stack):
    definition = copy.deepcopy(stack.definition)
    definition["States"]["Create the EMR cluster"]["Parameters"]["VisibleToAllUsers"] = "true"  # RunJobFlow: a boolean
    invalid = stack.stepfunctions.create_state_machine(
        name="orchard-invalid-request", definition=json.dumps(definition),
        roleArn=stack.names["StateMachineRole.Arn"])["stateMachineArn"]
    inline = {**MANIFEST, "inputs": [f"s3://{stack.names['InputsBucket']}/fruits-360/Training/"]}

    started = stack.stepfunctions.start_execution(stateMachineArn=invalid, input=json.dumps(inline))
    execution = stack.wait(started["executionArn"], timeout_seconds=120)

    assert execution.status == "FAILED"
    assert "Parameter validation failed" in execution.cause
    assert "Invalid type for parameter VisibleToAllUsers, value: true, type: <class 'str'>" in execution.cause
    assert stack.cluster_states() == {}


def test_a_grant_removed_from_the_template_fails_the_check_naming_principal_action_and_resource(stack):
    execution = run_upload(stack)
    assert execution.status == "SUCCEEDED"
    template = copy.deepcopy(aws_deployed.transformed())
    (policy,) = template["Resources"]["CheckOutputsFunctionRole"]["Properties"]["Policies"]
    policy["PolicyDocument"]["Statement"] = [statement for statement in policy["PolicyDocument"]["Statement"]
                                             if statement["Action"] != ["s3:ListBucket"]]

    without_list_bucket = missing_grants(stack.calls, aws_deployed.identity_policies(aws_deployed.Stack(template)))

    assert set(without_list_bucket) - set(missing_grants(stack.calls)) == {
        Missing("CheckOutputsFunctionRole", "s3:ListBucket", f"arn:aws:s3:::{stack.names['OutputsBucket']}")}


def test_a_selection_the_inputs_cannot_satisfy_fails_before_any_cluster(stack, capsys):
    execution = run_upload(stack, {**MANIFEST, "select": {"classes": ["Kiwi", "Cherry"]}})

    assert (execution.status, execution.error) == ("FAILED", "InvalidManifest")
    assert "$.select.classes[1]: 'Cherry' matches no class folder of images under the inputs" in execution.cause
    assert execution.state_names == ["Prepare the run", "Keep only the error"] + FAILURE_END
    assert stack.cluster_states() == {}
    assert_run_recorded(capsys.readouterr().out, succeeded=False)


def test_the_cluster_watch_sees_the_cluster_of_a_running_execution(stack):
    """The scheduled watch runs with its own role (its calls are checked too) while a run's cluster is up."""
    watched: dict[str, Any] = {}

    def step_during_a_watch(step: dict[str, Any], node: boto3.Session) -> StepResult:
        watched.update(stack.deliver({}, "WatchClustersFunction"))
        return job_writing()(step, node)
    stack.emr.run_step = step_during_a_watch

    execution = run_upload(stack)

    assert execution.status == "SUCCEEDED"
    assert (len(watched["active"]), watched["overdue"]) == (1, [])


def test_an_unnamed_manifest_is_named_after_its_file_in_every_record_of_the_run(stack):
    """One run, one name: the plan, the run summary, and what the job records (model_info.json, _SUCCESS) name the
    run after the manifest's file, the job reading the name from the manifest the plan resolved."""
    stack.emr.run_step = job_reading_its_manifest
    unnamed = {key: value for key, value in MANIFEST.items() if key != "name"}

    (started,) = stack.publish(stack.upload_manifest("manifests/Kiwis only.json", unnamed))
    execution = stack.wait(started["execution_arn"], timeout_seconds=120)

    assert execution.status == "SUCCEEDED", execution.cause
    run = execution.output["run"]
    s3 = boto3.client("s3", region_name=REGION)

    def stored(key: str) -> Any:
        bucket, prefix = run["output_uri"].removeprefix("s3://").split("/", 1)
        return json.loads(s3.get_object(Bucket=bucket, Key=prefix + key)["Body"].read())

    assert run["run_id"].startswith("Kiwis-only-")
    assert {
        "run plan": run["name"],
        "resolved manifest": stored("manifest.json").get("name"),
        "run_summary.json": stored("run_summary.json")["name"],
        "model_info.json": stored("model_info/model_info.json")["run"]["name"],
        "_SUCCESS": stored("_SUCCESS")["run_name"],
    } == dict.fromkeys(["run plan", "resolved manifest", "run_summary.json", "model_info.json", "_SUCCESS"],
                       "Kiwis-only")
