"""The EMR service integration (`elasticmapreduce:createCluster/addStep/terminateCluster`, with `.sync`)
for moto's Step Functions interpreter, over moto's EMR backend.

moto 5.2 lists `elasticmapreduce` among its unsupported services: a plain request-response call
and no `.sync`. This adapter is modelled on moto's own Glue integration
(`state_task_service_glue.py`): a request handler, then a sync resolver polled by the interpreter
until it returns the task's output or raises its failure.

moto's EMR backend never advances a cluster or a step by itself, so the outcome comes from an
`EmrBehaviour` the caller chooses: whether the cluster starts, and a `run_step` function that
decides (or actually computes, by running the Spark job) how each step ends. A step runs with the
credentials of the cluster's nodes, those of its instance profile (JobFlowRole): a boto3 session the
caller gives for each instance profile name.

The adapter polls as Step Functions does ("IAM policies for Amazon EMR", the calls each integration
needs: https://docs.aws.amazon.com/step-functions/latest/dg/emr-iam.html): DescribeCluster for
createCluster and terminateCluster, DescribeStep for addStep.

moto internals relied on (checked against moto 5.2.5, the version pinned in requirements/dev.txt):
- `asl.component.state.exec.state_task.state_task_factory.state_task_service_for`, the name the
  interpreter calls to pick an integration by service name (patched here for `elasticmapreduce`);
- `StateTaskServiceCallback`: `_eval_service_task`, `_build_sync_resolver`, `_from_error`, and
  `env.stack` for passing the request's response to the resolver;
- `asl.utils.boto_client.boto_client_for`, the interpreter's in-process boto3 client;
- `moto.emr.models.emr_backends` and its `Cluster.state` / `Step.state` and timeline attributes,
  written to play what EMR would do (a failed bootstrap, a step's start and end).
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

import boto3
import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError
from moto.emr.models import emr_backends
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from orchard_local.emr_fleets import FleetChooser, end_instances, first_listed, instance_fleet_filter, launch_fleets

ACCOUNT: Final = "123456789012"  # moto's default account
# Step Functions names an EMR task's service error `EMR.<exception>`: the exception's own name when EMR's API model
# declares it (InternalServerException, InvalidRequestException, ...), else the SDK's generic
# `AmazonElasticMapReduceException`, which therefore carries throttling, validation and access errors alike
# (aws-cdk issue 13735 shows `EMR.AmazonElasticMapReduceException` from a createCluster.sync task).
ERROR_PREFIX: Final = "EMR."
GENERIC_ERROR: Final = f"{ERROR_PREFIX}AmazonElasticMapReduceException"
TASK_FAILED: Final = StatesErrorNameType.StatesTaskFailed.to_name()
STEP_ENDED: Final = {"COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED"}
CLUSTER_UP: Final = {"RUNNING", "WAITING"}
CLUSTER_DOWN: Final = {"TERMINATED", "TERMINATED_WITH_ERRORS"}
# The parameters each action takes (those of RunJobFlow, AddJobFlowSteps with one step, TerminateJobFlows).
SUPPORTED_PARAMETERS: Final = {
    "createcluster": {
        "Name", "LogUri", "LogEncryptionKmsKeyId", "ReleaseLabel", "Instances", "Steps", "BootstrapActions",
        "Applications", "Configurations", "VisibleToAllUsers", "JobFlowRole", "ServiceRole", "Tags",
        "SecurityConfiguration", "AutoScalingRole", "ScaleDownBehavior", "CustomAmiId", "EbsRootVolumeSize",
        "StepConcurrencyLevel", "ManagedScalingPolicy", "AutoTerminationPolicy", "OSReleaseLabel",
    },
    "addstep": {"ClusterId", "Step", "ExecutionRoleArn"},
    "terminatecluster": {"ClusterId"},
}


@dataclass(frozen=True)
class StepResult:
    """How a step ended: COMPLETED or FAILED, EMR's reason when it failed, and what the step wrote to stderr."""

    state: str
    message: str = ""
    stderr: str = ""


@dataclass
class EmrBehaviour:
    """What the simulated EMR does: the test (or the demo) chooses."""

    cluster_starts: bool = True
    # The step's request, and a session with the credentials of the cluster's nodes.
    run_step: Callable[[dict[str, Any], boto3.Session], StepResult] = lambda step, node: StepResult("COMPLETED")
    steps_run: list[dict[str, Any]] = field(default_factory=list)
    # What EMR launches for each instance fleet when the cluster starts
    launch: FleetChooser = first_listed
    faults: dict[str, list[str]] = field(default_factory=dict)  # EMR operation -> error codes of its next calls

    def fail_next(self, operation: str, code: str = "ThrottlingException", times: int = 1) -> None:
        """The next `times` calls of an EMR API operation (`DescribeCluster`...) by the integration answer `code`."""
        self.faults.setdefault(operation, []).extend([code] * times)

    def answer_with_fault(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        """botocore `before-call` handler: EMR's error response for an operation with a fault pending."""
        pending = self.faults.get(model.name)
        if not pending:
            return None
        code = pending.pop(0)
        return AWSResponse("https://elasticmapreduce.amazonaws.com/", 400, HTTPHeaders(), None), {
            "Error": {"Code": code, "Message": f"{code} injected by the test"},
            "ResponseMetadata": {"HTTPStatusCode": 400}}


NodeCredentials = Callable[[str], boto3.Session]  # an instance profile's name -> its role's credentials

behaviour = EmrBehaviour()


@cache
def modeled_errors() -> frozenset[str]:
    """The exceptions EMR's API model declares (botocore's copy of it)."""
    return frozenset(shape.name for shape in botocore.session.get_session().get_service_model("emr").error_shapes)


def _not_registered(profile: str) -> boto3.Session:
    raise RuntimeError("the EMR integration is not registered: use emr_integration()")


node_credentials: NodeCredentials = _not_registered


def _cluster(region: str, cluster_id: str) -> Any:
    return emr_backends[ACCOUNT][region].clusters[cluster_id]


def _task_failed(env: Any, service: StateTaskServiceCallback, error: str,
                 cause: dict[str, Any]) -> FailureEventException:
    """The failure Step Functions reports for an EMR task: `error` with the JSON `cause`."""
    task_failed = StatesErrorNameType.StatesTaskFailed
    error_name = StatesErrorName(typ=task_failed) if error == task_failed.to_name() else CustomErrorName(error)
    return FailureEventException(FailureEvent(
        env=env,
        error_name=error_name,
        event_type=HistoryEventType.TaskFailed,
        # moto declares EventDetails total (every kind of details required); an event has one, as moto builds them
        event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(  # type: ignore[typeddict-item]
            error=error, cause=to_json_str(cause),
            resource=service._get_sfn_resource(), resourceType=service._get_sfn_resource_type())),
    ))


class StateTaskServiceEmr(StateTaskServiceCallback):
    """`arn:aws:states:::elasticmapreduce:{createCluster,addStep,terminateCluster}[.sync]`."""

    def __init__(self) -> None:
        # Only .sync is used; WaitForTaskToken is listed because moto's callback code releases a
        # task-token endpoint unconditionally after a .sync task (moto 5.2.5: `callback_endpoint.interrupt_all()`
        # on None otherwise, which its own Glue integration also runs into).
        patterns = {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken}
        # moto types the set as of ResourceCondition, a str subclass whose own constants are plain str
        super().__init__(supported_integration_patterns=patterns)  # type: ignore[arg-type]

    def _get_supported_parameters(self) -> set[str] | None:
        return SUPPORTED_PARAMETERS.get(self.resource.api_action.lower())

    def _client(self, resource_runtime_part: Any, state_credentials: Any) -> Any:
        client = boto_client_for(service="emr", region=resource_runtime_part.region,
                                 state_credentials=state_credentials)
        # botocore-stubs type handlers as returning None; a before-call handler's response short-circuits the call
        client.meta.events.register("before-call.emr", behaviour.answer_with_fault)  # type: ignore[arg-type]
        return client

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            code = ex.response["Error"]["Code"]
            name = f"{ERROR_PREFIX}{code}" if code in modeled_errors() else GENERIC_ERROR
            return _task_failed(env, self, name, {"message": ex.response["Error"]["Message"]}).failure_event
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(self, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                           state_credentials: Any) -> None:
        emr = self._client(resource_runtime_part, state_credentials)
        action = self.resource.api_action
        if action == "createCluster":
            response = emr.run_job_flow(**normalised_parameters)
            env.stack.append({"ClusterId": response["JobFlowId"], "ClusterArn": response["ClusterArn"]})
        elif action == "addStep":
            response = emr.add_job_flow_steps(JobFlowId=normalised_parameters["ClusterId"],
                                              Steps=[normalised_parameters["Step"]])
            env.stack.append({"ClusterId": normalised_parameters["ClusterId"], "StepId": response["StepIds"][0]})
        elif action == "terminateCluster":
            emr.terminate_job_flows(JobFlowIds=[normalised_parameters["ClusterId"]])
            end_instances(ACCOUNT, resource_runtime_part.region, normalised_parameters["ClusterId"])
            env.stack.append({"ClusterId": normalised_parameters["ClusterId"]})
        else:
            raise ValueError(f"unsupported EMR action {action!r}")

    def _build_sync_resolver(self, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                             state_credentials: Any) -> Callable[[], Any]:
        response = env.stack.pop()
        region = resource_runtime_part.region
        emr = self._client(resource_runtime_part, state_credentials)
        action = self.resource.api_action

        if action == "createCluster":
            cluster = _cluster(region, response["ClusterId"])
            if not behaviour.cluster_starts:
                cluster.state = "TERMINATED_WITH_ERRORS"
                cluster.end_datetime = datetime.now(UTC)
            else:
                launch_fleets(ACCOUNT, region, cluster.id, normalised_parameters["Instances"].get("InstanceFleets", []),
                              behaviour.launch)

        def resolve() -> Any | None:
            if action == "addStep":
                step = emr.describe_step(ClusterId=response["ClusterId"], StepId=response["StepId"])["Step"]
                return self._resolve_step(env, region, response, step["Status"]["State"])
            described = emr.describe_cluster(ClusterId=response["ClusterId"])["Cluster"]
            state = described["Status"]["State"]
            if action == "createCluster":
                if state in CLUSTER_UP:
                    return response
                if state in CLUSTER_DOWN:
                    raise _task_failed(env, self, TASK_FAILED, {
                        "ClusterId": response["ClusterId"], "State": state,
                        "StateChangeReason": {"Code": "BOOTSTRAP_FAILURE",
                                              "Message": "On the master instance, bootstrap action 1 returned a "
                                                         "non-zero return code"}})
                return None
            return response if state in CLUSTER_DOWN else None

        return resolve

    def _resolve_step(self, env: Any, region: str, response: dict[str, Any], state: str) -> dict[str, Any] | None:
        """The step's outcome: run first (by `behaviour.run_step`, with its nodes' credentials) if it had not ended."""
        cluster = _cluster(region, response["ClusterId"])
        step = next(s for s in cluster.steps if s.id == response["StepId"])
        if state not in STEP_ENDED:
            step.state, step.start_date_time = "RUNNING", datetime.now(UTC)
            request = {"Name": step.name, "ActionOnFailure": step.action_on_failure,
                       "HadoopJarStep": step.hadoop_jar_step}
            behaviour.steps_run.append(request)
            node = node_credentials(cluster.role)
            result = behaviour.run_step(request, node)
            archive_stderr(node.client("s3"), cluster.log_uri, cluster.id, step.id, result.stderr)
            step.state, step.end_date_time = result.state, datetime.now(UTC)
            step.last_state_change_reason = result.message
            cluster.state = "WAITING"
        if step.state == "COMPLETED":
            return response
        raise _task_failed(env, self, TASK_FAILED, {
            "Step": {"Id": step.id, "Name": step.name, "Status": {
                "State": step.state, "FailureDetails": {"Reason": step.last_state_change_reason}}}})


def archive_stderr(s3: Any, log_uri: str | None, cluster_id: str, step_id: str, stderr: str) -> None:
    """The step's stderr where EMR archives it, `<LogUri>/<cluster id>/steps/<step id>/stderr.gz` (EMR Management
    Guide, "View log files archived to Amazon S3"), written with the nodes' credentials (their instance role writes the
    cluster's logs)."""
    if not log_uri:
        return
    bucket, _, prefix = log_uri.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{cluster_id}/steps/{step_id}/stderr.gz".lstrip("/"),
                  Body=gzip.compress(stderr.encode()))


@contextlib.contextmanager
def emr_integration(chosen: EmrBehaviour, credentials: NodeCredentials) -> Iterator[EmrBehaviour]:
    """Register the EMR integration with moto's interpreter, with `chosen` behaviour and the nodes' `credentials`,
    for the block."""
    global behaviour, node_credentials
    original = state_task_factory.state_task_service_for

    def service_for(service_name: str) -> Any:
        return StateTaskServiceEmr() if service_name == "elasticmapreduce" else original(service_name)

    previous = behaviour, node_credentials
    behaviour, node_credentials = chosen, credentials
    state_task_factory.state_task_service_for = service_for
    try:
        with instance_fleet_filter():
            yield chosen
    finally:
        state_task_factory.state_task_service_for = original
        behaviour, node_credentials = previous

