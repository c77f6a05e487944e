"""template.yaml deployed into moto, and the real state machine run by moto's interpreter.

`deploy()` plays CloudFormation for what a run touches: the buckets, the failure topic, the queue
of lost events, the DynamoDB tables, the artifacts published by the real custom-resource code, each function's
environment resolved from the template, and the state machine created from `statemachine/pipeline.asl.json` with the
template's `DefinitionSubstitutions` (parameters at their defaults unless the caller gives them, and any substitution
the caller replaces), every resource named as in the deployed template
(`orchard_local.deployed`). Lambda tasks run the handlers in-process (`lambda_service.py`; what they log lands in their
log groups), EMR tasks go through the `.sync` adapter (`emr_sync.py`; a step's stderr lands where EMR archives it).
CloudFormation lists the stack by its name, with template.yaml's Outputs (`cloudformation.py`), so that the `orchard`
command finds it as it finds a deployed one. Every AWS call is recorded as its principal's (`principals.py`): each
function's role, the state machine's, the clusters' instance role. Use inside `mock_aws(config=MOTO_CONFIG)`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from moto.ec2.models import ec2_backends

from orchard_cli.history import StateRun, states_of
from orchard_functions.slots import SLOTS_KEY
from orchard_local import template as t
from orchard_local.account import ACCOUNT, REGION
from orchard_local.cloudformation import create_stack_record
from orchard_local.deployed import instance_profile_named, physical_names, role_of, stack
from orchard_local.emr_sync import EmrBehaviour, emr_integration
from orchard_local.eventbridge import invoke_async, matches, rule_targets
from orchard_local.events import execution_status_change, object_created_event
from orchard_local.lambda_service import LambdaService, handler_of, lambdas_in_process
from orchard_local.moto_fixes import account_services, atomic_item_operations, fail_states_reraise, interpreter_clients
from orchard_local.principals import Call, Principals
from orchard_local.s3_events import objects_created_published

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}}
BUCKETS = ("InputsBucket", "OutputsBucket", "LogsBucket", "ArtifactsBucket")
FINISHED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class Execution:
    """A finished execution: status, output or error, and the states it went through."""

    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    states: list[StateRun]

    @property
    def state_names(self) -> list[str]:
        return [state.name for state in self.states]


@dataclass
class LocalStack:
    """The stack in moto: physical names by logical id, the services playing Lambda and EMR, the definition as
    deployed, and every AWS call its principals made."""

    names: dict[str, str]
    lambdas: LambdaService
    emr: EmrBehaviour
    notices_queue_url: str
    definition: dict[str, Any]
    calls: list[Call]
    stepfunctions: Any = field(default_factory=lambda: boto3.client("stepfunctions", region_name=REGION))
    # EC2's Standard vCPU quotas as Service Quotas answers them, by quota code (orchard_local.moto_fixes): a test may
    # lower one, or delete it (Service Quotas then answers NoSuchResourceException).
    quotas: dict[str, float] = field(default_factory=dict)

    @property
    def state_machine_arn(self) -> str:
        return self.names["PipelineStateMachine"]

    def function_arn(self, logical_id: str) -> str:
        return self.names[f"{logical_id}.Arn"]

    def start(self, execution_input: Any, name: str | None = None) -> str:
        """Start an execution by hand (as `aws stepfunctions start-execution`) with any JSON input; its ARN."""
        extra = {"name": name} if name else {}
        return self.stepfunctions.start_execution(stateMachineArn=self.state_machine_arn,
                                                  input=json.dumps(execution_input), **extra)["executionArn"]

    def upload_manifest(self, key: str, document: dict[str, Any]) -> dict[str, Any]:
        """Put a manifest in the inputs bucket; the S3 Object Created event EventBridge would deliver."""
        body = json.dumps(document).encode()
        s3 = boto3.client("s3", region_name=REGION)
        response = s3.put_object(Bucket=self.names["InputsBucket"], Key=key, Body=body)
        return object_created_event(self.names["InputsBucket"], key, response, len(body))

    def deliver(self, event: dict[str, Any], function: str = "StartFromUploadFunction") -> Any:
        """Call a function's handler with an event directly (no rule, no retry)."""
        return self.lambdas.call(self.function_arn(function), event)

    def publish(self, event: dict[str, Any]) -> list[Any]:
        """Put an event on EventBridge: each rule of the template that matches it invokes its function
        asynchronously. The results of the invocations that succeeded (a failed one sends its record to the
        function's on-failure destination instead)."""
        results = [invoke_async(self.lambdas.call, target, event)
                   for target in rule_targets(self.names) if matches(target.pattern, event)]
        return [result for result in results if result is not None]

    def lost_events(self) -> list[dict[str, Any]]:
        """The records waiting in the queue of events that started or cleaned up nothing."""
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.get_queue_url(QueueName=self.names["LostEventsQueue.QueueName"])["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    def snapshot(self, execution_arn: str) -> Execution:
        """The execution as it stands: status, output or error, the states entered so far."""
        described = self.stepfunctions.describe_execution(executionArn=execution_arn)
        events = self.stepfunctions.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return Execution(
            arn=execution_arn, status=described["status"],
            output=json.loads(described["output"]) if described.get("output") else None,
            error=described.get("error"), cause=described.get("cause"), states=states_of(events))

    def wait(self, execution_arn: str, timeout_seconds: float = 600) -> Execution:
        """Wait for the execution to end, and Step Functions' status-change event for its end to be published;
        its status, output and the states entered in order."""
        deadline = time.monotonic() + timeout_seconds
        while (status := self.stepfunctions.describe_execution(executionArn=execution_arn)["status"]) not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still {status} after {timeout_seconds} s")
            time.sleep(0.2)
        self.publish(execution_status_change(execution_arn, self.state_machine_arn, status))
        return self.snapshot(execution_arn)

    def notices(self) -> list[dict[str, Any]]:
        """The messages published to the failure topic (read from a queue subscribed to it)."""
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=self.notices_queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    def cluster_states(self) -> dict[str, str]:
        """Every cluster created so far, by id, with its state."""
        emr = boto3.client("emr", region_name=REGION)
        return {c["Id"]: c["Status"]["State"] for c in emr.list_clusters()["Clusters"]}

    def cluster_lifetimes(self) -> dict[str, tuple[datetime, datetime | None]]:
        """Every cluster created so far, by id: when EMR created it and when it ended (None while it is alive), from
        the cluster's own timeline."""
        emr = boto3.client("emr", region_name=REGION)
        timelines = {c["Id"]: c["Status"]["Timeline"] for c in emr.list_clusters()["Clusters"]}
        return {cluster_id: (timeline["CreationDateTime"], timeline.get("EndDateTime"))
                for cluster_id, timeline in timelines.items()}

    def slots(self) -> dict[str, Any]:
        """The item of the cluster slots table, its attributes as plain values ({} before any run took a slot)."""
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        item = dynamodb.get_item(TableName=self.names["SlotsTable"], Key=SLOTS_KEY, ConsistentRead=True).get("Item", {})
        return {name: next(iter(value.values())) for name, value in item.items()}

    @contextlib.contextmanager
    def uploads_start_runs(self) -> Iterator[None]:
        """For the block, every object created in the inputs bucket, by whoever, is delivered to EventBridge as S3
        delivers it (orchard_local.s3_events): a manifest uploaded under manifests/ starts a run by itself. Outside it,
        a test delivers the events it chooses (`publish`, `deliver`)."""
        with objects_created_published(self.names, self.publish):
            yield

    def stop(self, execution_arn: str, timeout_seconds: float = 60) -> Execution:
        """Stop the execution (StopExecution), wait for it to be ABORTED, and publish Step Functions' status-change
        event for it, as `wait` does for any end."""
        self.stepfunctions.stop_execution(executionArn=execution_arn, error="Stopped", cause="Stopped by the test")
        return self.wait(execution_arn, timeout_seconds)

    def stop_running(self) -> None:
        """Stop every execution still running (StopExecution), so that none of moto's interpreter threads outlives
        the stack, still waiting, polling or sleeping in a test that came after."""
        pages = self.stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING")
        for execution in (execution for page in pages for execution in page["executions"]):
            self.stepfunctions.stop_execution(executionArn=execution["executionArn"], error="Stopped",
                                              cause="The test's stack was torn down")


def function_environment(names: dict[str, str]) -> dict[str, str]:
    """Every function's environment variables (Globals and its own), as the deployed stack gives them; a custom
    resource's attribute is what its function returned at deploy time (in `names`)."""
    variables = dict(t.template()["Globals"]["Function"]["Environment"]["Variables"])
    for function in t.functions().values():
        variables.update(function["Properties"].get("Environment", {}).get("Variables", {}))

    def value_of(value: Any) -> str:
        attribute = ".".join(value["Fn::GetAtt"]) if isinstance(value, dict) and "Fn::GetAtt" in value else None
        return names[attribute] if attribute in names else str(stack().render(value))

    return {name: value_of(value) for name, value in variables.items()}


def create_resources(names: dict[str, str]) -> str:
    """Buckets, the failure topic with a queue subscribed to read its notices, the queue of lost events, the tables,
    the log groups; the notices queue's URL."""
    s3 = boto3.client("s3", region_name=REGION)
    for logical in BUCKETS:
        s3.create_bucket(Bucket=names[logical], CreateBucketConfiguration={"LocationConstraint": REGION})
        if "VersioningConfiguration" in t.resources()[logical]["Properties"]:
            s3.put_bucket_versioning(Bucket=names[logical], VersioningConfiguration={"Status": "Enabled"})
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name=names["FailureTopic.TopicName"])["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="orchard-failure-notices")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    sqs.create_queue(QueueName=names["LostEventsQueue.QueueName"])
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for logical, table in t.resources("AWS::DynamoDB::Table").items():
        properties = table["Properties"]
        dynamodb.create_table(TableName=names[logical], KeySchema=properties["KeySchema"],
                              AttributeDefinitions=properties["AttributeDefinitions"],
                              BillingMode=properties["BillingMode"])
    logs = boto3.client("logs", region_name=REGION)
    for logical in t.resources("AWS::Logs::LogGroup"):
        logs.create_log_group(logGroupName=names[logical])
    return queue_url


def create_network(names: dict[str, str]) -> None:
    """The clusters' subnets, as the stack makes them when no SubnetIds are given (each in its zone, tagged), in moto's
    EC2 under the ids the stack's Ref gives them (`names`), so that DescribeSubnets answers for them."""
    deployed = stack()
    subnets = {logical: resource for logical, resource in deployed.resources.items()
               if resource["Type"] == "AWS::EC2::Subnet"}
    if not subnets:
        return
    ec2 = boto3.client("ec2", region_name=REGION)
    zones = sorted(zone["ZoneName"] for zone in ec2.describe_availability_zones()["AvailabilityZones"])
    vpc_id = ec2.create_vpc(CidrBlock=t.resources()["ClusterVpc"]["Properties"]["CidrBlock"])["Vpc"]["VpcId"]
    backend = ec2_backends[ACCOUNT][REGION]
    for logical, resource in subnets.items():
        properties = resource["Properties"]
        zone_index, _ = properties["AvailabilityZone"]["Fn::Select"]  # !Select [i, !GetAZs ""]: the region's i-th zone
        zone = zones[zone_index]
        created = ec2.create_subnet(VpcId=vpc_id, CidrBlock=properties["CidrBlock"], AvailabilityZone=zone,
                                    TagSpecifications=[{"ResourceType": "subnet",
                                                        "Tags": deployed.render(properties["Tags"])}])["Subnet"]
        subnet = backend.subnets[zone].pop(created["SubnetId"])  # moto draws ids at random: given the stack's
        subnet.id = names[logical]
        backend.subnets[zone][subnet.id] = subnet


def prepare_account() -> None:
    """The account as the deploy checklist leaves it (docs/aws.md), beyond the stack: EC2's Spot service-linked role
    exists (created once per account, by the command Prepare the run names when it is missing)."""
    boto3.client("iam", region_name=REGION).create_service_linked_role(AWSServiceName="spot.amazonaws.com")


def load_handlers(names: dict[str, str], principals: Principals) -> dict[str, Any]:
    """Each function's handler by ARN, its module loaded afresh, as a new deployment does; its
    module-level clients' calls recorded as its role's."""
    handlers = {}
    for logical, function in t.functions().items():
        handler = handler_of(t.function_directory(function), function["Properties"]["Handler"])
        principals[role_of(logical)].watch_module(sys.modules[handler.__module__])
        handlers[names[f"{logical}.Arn"]] = handler
    return handlers


def definition_values(names: dict[str, str], parameters: Mapping[str, str],
                      substitutions: Mapping[str, str]) -> dict[str, str]:
    """Each `DefinitionSubstitutions` value as deployed with these parameters, `substitutions` replacing some.

    Parameters given here reach the definition only: one that a function's environment reads too is refused (the
    functions' environments are resolved at the template's defaults)."""
    unknown = (set(parameters) - set(t.template()["Parameters"])) | (set(substitutions) - set(t.substitutions()))
    if unknown:
        raise KeyError(f"no such template parameter or definition substitution: {sorted(unknown)}")
    environments = [function["Properties"].get("Environment", {}) for function in t.functions().values()]
    in_functions = set(parameters) & t.referenced_names(environments)
    if in_functions:
        raise ValueError(f"{sorted(in_functions)} also reach a function's environment, which is not redeployed here")
    return {key: t.resolve(value, names, parameters) for key, value in t.substitutions().items()} | dict(substitutions)


@contextlib.contextmanager
def deployed(emr: EmrBehaviour | None = None, *, parameters: Mapping[str, str] | None = None,
             substitutions: Mapping[str, str] | None = None) -> Iterator[LocalStack]:
    """The stack deployed into moto (call inside mock_aws(config=MOTO_CONFIG)), for the block, in an account that
    passed the deploy checklist (`prepare_account`), whose EC2 quotas Service Quotas answers (`LocalStack.quotas`):
    the template's parameters at their defaults unless `parameters` gives them, its definition's substitutions as
    the template gives them unless `substitutions` replaces them (a shorter slot poll: {"SlotPollSeconds": "1"})."""
    with account_services() as quotas:
        prepare_account()
        with deployed_stack(emr, parameters or {}, substitutions or {}) as stack:
            stack.quotas = quotas
            yield stack


@contextlib.contextmanager
def deployed_stack(emr: EmrBehaviour | None, parameters: Mapping[str, str],
                   substitutions: Mapping[str, str]) -> Iterator[LocalStack]:
    names = physical_names()
    values = definition_values(names, parameters, substitutions)
    queue_url = create_resources(names)
    create_network(names)
    principals = Principals()
    # a plain function of the module, called with keywords, not an (event, context) handler
    publish: Callable[..., str] = handler_of(t.function_directory(t.functions()["PublishArtifactsFunction"]),
                                             "app.publish_artifacts")
    principals[role_of("PublishArtifactsFunction")].watch_module(sys.modules[publish.__module__])
    names["PublishedArtifacts.ArtifactsUri"] = publish(bucket=names["ArtifactsBucket"], bundle=t.ROOT)
    create_stack_record(names)
    saved_environment = dict(os.environ)
    os.environ.update(function_environment(names))
    state_machine = principals[role_of("PipelineStateMachine")]

    def node_credentials(instance_profile: str) -> boto3.Session:
        return principals[role_of(instance_profile_named(instance_profile))].session()

    try:
        service = LambdaService(handlers=load_handlers(names, principals))
        definition = t.render_definition(values)
        with lambdas_in_process(service, state_machine.invoked), fail_states_reraise(), atomic_item_operations(), \
                interpreter_clients(lambda client: state_machine.watch(client.meta.events)), \
                emr_integration(emr or EmrBehaviour(), node_credentials) as behaviour:
            boto3.client("stepfunctions", region_name=REGION).create_state_machine(
                name=names["PipelineStateMachine.Name"], definition=json.dumps(definition),
                roleArn=names["StateMachineRole.Arn"], type="STANDARD")
            local = LocalStack(names=names, lambdas=service, emr=behaviour, notices_queue_url=queue_url,
                               definition=definition, calls=principals.calls)
            try:
                yield local
            finally:
                local.stop_running()
    finally:
        os.environ.clear()
        os.environ.update(saved_environment)
