"""Contracts between template.yaml, the state machine definition and the Lambdas' code."""

from __future__ import annotations

import importlib
import json
import re
from importlib import metadata
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel
from statelint.linter import Linter

from orchard_contract.emr_step import JOB_REQUIREMENTS, PUBLISHED_FILES
from orchard_functions.costs import load_price_table
from orchard_functions.plan_model import RunPlan
from orchard_functions.settings import FunctionSettings, environment_variables
from orchard_local import deployed as aws_deployed
from orchard_local import template as t

REGION, ACCOUNT = "eu-west-1", "123456789012"
# What Lambda itself sets in every function's environment.
LAMBDA_RUNTIME_VARIABLES = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT"}


def fake_physical_names() -> dict[str, str]:
    """A plausible name or ARN for each resource, as CloudFormation's Ref / GetAtt would give."""
    names = {}
    for name, resource in t.resources().items():
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            names[name] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orchard-{name}"
        elif kind == "AWS::SNS::Topic":
            names[name] = f"arn:aws:sns:{REGION}:{ACCOUNT}:orchard-{name}"
        else:
            names[name] = f"orchard-{name}"
    return names


def allow_statements() -> list[tuple[str, dict[str, Any]]]:
    """(owner, statement) for every Allow statement written in the template: roles and SAM function policies."""
    found = []
    for name, resource in t.resources().items():
        properties = resource.get("Properties", {})
        documents = [policy["PolicyDocument"] for policy in properties.get("Policies", []) if "PolicyDocument" in policy]
        if resource["Type"] == "AWS::Serverless::Function":
            documents += [policy for policy in properties.get("Policies", []) if "Statement" in policy]
        for document in documents:
            found += [(name, s) for s in document["Statement"] if s["Effect"] == "Allow"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_placeholder_has_a_substitution_and_every_substitution_is_used():
    assert t.placeholders() == set(t.substitutions())


def test_the_definition_holds_no_deployment_constant():
    text = t.DEFINITION.read_text()
    assert not re.search(r"arn:aws|\d{12}|[a-z]{2}-[a-z]+-\d|s3://", text)


def test_the_deployed_definition_passes_statelint():
    names = fake_physical_names()
    definition = t.render_definition({key: t.resolve(value, names) for key, value in t.substitutions().items()})
    assert Linter.validate(definition) == []


@pytest.mark.parametrize("name", sorted(t.functions()))
def test_every_environment_variable_a_function_reads_is_set_by_the_template(name):
    function = t.functions()[name]
    app = t.function_directory(function) / "app.py"
    read = set().union(*(t.environment_reads(module) for module in {app} | t.imported_shared_modules(app)))
    handler_module = importlib.import_module(f"{t.function_directory(function).name}.app")
    settings = [value for value in vars(handler_module).values()
                if isinstance(value, type) and issubclass(value, FunctionSettings) and value is not FunctionSettings]
    read |= set().union(*map(environment_variables, settings))
    globally_set = t.template()["Globals"]["Function"]["Environment"]["Variables"]
    set_here = function["Properties"].get("Environment", {}).get("Variables", {})
    assert read - set(globally_set) - set(set_here) - LAMBDA_RUNTIME_VARIABLES == set()


def test_each_field_of_the_run_plan_the_definition_reads_is_declared():
    """`$.run.<field>...` in the definition: each a field of RunPlan (through its nested models), as Prepare run
    returns it."""
    read = set(re.findall(r'"\$\.run\.([A-Za-z_.]+)"', t.DEFINITION.read_text()))
    assert {"run_id", "cluster.Name", "step", "step_timeout_seconds"} <= read
    for path in read:
        model: Any = RunPlan
        for name in path.split("."):
            assert isinstance(model, type) and issubclass(model, BaseModel) and name in model.model_fields, path
            model = model.model_fields[name].annotation


def test_the_state_machine_role_invokes_exactly_the_functions_the_definition_calls():
    called = {value["Fn::GetAtt"][0] for key, value in t.substitutions().items()
              if isinstance(value, dict) and "Fn::GetAtt" in value and key in t.placeholders()
              and t.resources()[value["Fn::GetAtt"][0]]["Type"] == "AWS::Serverless::Function"}
    role = t.state_machine()["Properties"]["Role"]["Fn::GetAtt"][0]
    invoke = [s for owner, s in allow_statements() if owner == role and "lambda:InvokeFunction" in as_list(s["Action"])]
    granted = {arn["Fn::GetAtt"][0] for statement in invoke for arn in as_list(statement["Resource"])}
    assert called == granted == {"PrepareRunFunction", "CheckOutputsFunction", "RecordMetricsFunction",
                                 "CleanUpFunction"}


def test_no_statement_allows_a_wildcard_action():
    wildcards = [(owner, action) for owner, statement in allow_statements()
                 for action in as_list(statement["Action"]) if "*" in action]
    assert wildcards == []


def test_pass_role_is_limited_to_the_emr_roles():
    passing = [s for _, s in allow_statements() if "iam:PassRole" in as_list(s["Action"])]
    assert passing
    for statement in passing:
        roles = {arn["Fn::GetAtt"][0] for arn in as_list(statement["Resource"])}
        assert roles <= {"EmrServiceRole", "EmrInstanceRole"}
        assert "iam:PassedToService" in statement["Condition"]["StringEquals"]


def test_every_bucket_is_encrypted_private_and_tls_only():
    buckets = t.resources("AWS::S3::Bucket")
    policies = {p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
                for p in t.resources("AWS::S3::BucketPolicy").values()}
    assert set(buckets) == {"InputsBucket", "OutputsBucket", "LogsBucket", "ArtifactsBucket"}
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        assert all(properties["PublicAccessBlockConfiguration"].values()), name
        (deny,) = [s for s in policies[name]["Statement"] if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, name


def test_the_inputs_bucket_sends_its_events_to_eventbridge():
    inputs = t.resources()["InputsBucket"]["Properties"]
    assert inputs["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


def test_every_function_and_the_state_machine_log_with_retention():
    groups = t.resources("AWS::Logs::LogGroup").values()
    named_after = {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups}
    assert {f"/aws/lambda/${{{name}}}" for name in t.functions()} <= named_after
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)
    assert t.state_machine()["Properties"]["Logging"]["Level"] == "ALL"
    assert t.state_machine()["Properties"]["Tracing"]["Enabled"] is True


def test_the_price_table_prices_the_default_instance_types():
    prices = load_price_table("eu-west-1").instances
    parameters = t.template()["Parameters"]
    for parameter in ("PrimaryInstanceTypes", "CoreInstanceTypes"):
        assert parameters[parameter]["Type"] == "CommaDelimitedList"
        assert set(parameters[parameter]["Default"].split(",")) <= prices.keys(), parameter


def pins(path: str) -> dict[str, str]:
    lines = (t.ROOT / path).read_text().splitlines()
    return dict(re.sub(r"\[.*\]", "", line).split("==") for line in lines if "==" in line)


def test_packages_shared_by_the_job_and_the_lambdas_have_the_same_pins():
    job = pins(PUBLISHED_FILES[JOB_REQUIREMENTS])
    shared_somewhere = set()
    for path in sorted(t.LAMBDAS.glob("*/requirements.txt")):
        shared = set(pins(str(path.relative_to(t.ROOT)))) & set(job)
        assert {name: pins(str(path.relative_to(t.ROOT)))[name] for name in shared} == {name: job[name] for name in shared}, path
        shared_somewhere |= shared
    assert "jsonschema" in shared_somewhere  # the layer validates manifests with the job's own schema and validator


SDK = {"boto3", "botocore", "s3transfer"}  # one release train: boto3 pins the other two's ranges


def brought_in(requirement_files: list[str]) -> dict[str, str]:
    """Every distribution the requirement files bring in (name -> version), extras and markers followed, as installed
    here from the same constraints the Lambda builds use (lambda-build.mk), for Python 3.11 on Linux as on Lambda."""
    pending = [Requirement(line) for path in requirement_files for line in (t.ROOT / path).read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    seen: set[tuple[str, str]] = set()
    found: dict[str, str] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = {""} | set(requirement.extras)
        if all((name, extra) in seen for extra in extras):
            continue
        seen |= {(name, extra) for extra in extras}
        distribution = metadata.distribution(name)
        found[name] = distribution.version
        for needed in map(Requirement, distribution.requires or []):
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    return found


@pytest.mark.parametrize("function", sorted(t.functions()))
def test_each_function_ships_the_whole_sdk_at_the_tested_pins_or_none_of_it(function):
    """A botocore in the layer shadows the runtime's, whose boto3 and s3transfer would then load beside it: a set never
    released together. Lambda's guide recommends shipping one's own SDK for a fixed version ("Building Lambda
    functions with Python"). The layer (every function's, Globals) ships boto3 for Powertools' tracer's botocore."""
    own = f'{t.functions()[function]["Properties"]["CodeUri"].rstrip("/")}/requirements.txt'
    files = ["lambdas/shared/requirements.txt"] + ([own] if (t.ROOT / own).exists() else [])
    shipped = brought_in(files)
    constraints = pins("requirements/constraints.txt")
    assert SDK <= set(shipped) or not SDK & set(shipped), {name: shipped.get(name) for name in sorted(SDK)}
    assert {name: shipped[name] for name in SDK & set(shipped)} == {name: constraints[name] for name in SDK & set(shipped)}


def test_the_layer_ships_the_sdk_the_tests_run_with():
    assert pins("lambdas/shared/requirements.txt")["boto3"] == pins("requirements/constraints.txt")["boto3"]
    assert SDK <= set(brought_in(["lambdas/shared/requirements.txt"]))


def test_manual_starts_and_the_published_manifests_are_valid_inputs():
    from orchard_contract.manifest import schema_problems

    for manifest in sorted((t.ROOT / "manifests").glob("*.json")):
        assert schema_problems(json.loads(manifest.read_text())) == [], manifest.name


def test_every_event_rule_keeps_what_it_could_not_deliver_and_an_alarm_watches_it():
    """A rule's failed delivery goes to its dead-letter queue; a function error of the asynchronous invocation to
    the function's on-failure destination (EventBridge User Guide, "Using dead-letter queues to process undelivered
    events"). Both are the lost-events queue, whose alarm notifies the failure topic."""
    rules = 0
    for name, function in t.functions().items():
        sources = [s for s in function["Properties"].get("Events", {}).values() if s["Type"] == "EventBridgeRule"]
        if not sources:
            continue
        rules += len(sources)
        destination = function["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
        assert destination == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["LostEventsQueue", "Arn"]}}, name
        for source in sources:
            assert source["Properties"]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["LostEventsQueue", "Arn"]}}
    assert rules == 2
    (alarm,) = [a["Properties"] for a in t.resources("AWS::CloudWatch::Alarm").values()
                if a["Properties"].get("Namespace") == "AWS/SQS"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["LostEventsQueue", "QueueName"]}}]
    assert alarm["AlarmActions"] == [{"Ref": "FailureTopic"}]


def test_the_clean_up_rule_follows_every_end_of_an_execution():
    (source,) = t.functions()["CleanUpFunction"]["Properties"]["Events"].values()
    assert set(source["Properties"]["Pattern"]["detail"]["status"]) == {"SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"}


def test_alarms_can_publish_to_the_encrypted_failure_topic():
    """CloudWatch alarms cannot use the AWS-managed alias/aws/sns key (SNS Developer Guide, "Enable compatibility
    between event sources from AWS services and encrypted topics"): the topic's key is ours and lets them in."""
    topic = t.resources()["FailureTopic"]["Properties"]
    key = t.resources()[topic["KmsMasterKeyId"]["Ref"]]["Properties"]
    (cloudwatch,) = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch["Action"])
    assert key["EnableKeyRotation"] is True
    alarms = t.resources("AWS::CloudWatch::Alarm").values()
    assert alarms and all(a["Properties"]["AlarmActions"] == [{"Ref": "FailureTopic"}] for a in alarms)


def state_machine_role_statement(sid: str) -> dict[str, Any]:
    role = t.resources()["StateMachineRole"]["Properties"]
    (statement,) = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if s.get("Sid") == sid]
    return statement


def test_clusters_are_created_only_with_the_tags_the_definition_gives_them():
    """RunJobFlow is granted on "*" (it has no resource type) under request-tag conditions, which the
    definition's Tags meet: the execution's ARN, of this state machine, and EMR's managed-policy tag."""
    statement = state_machine_role_statement("CreateClustersTaggedWithAnExecution")
    assert statement["Action"] == ["elasticmapreduce:RunJobFlow"] and statement["Resource"] == "*"
    tags = {tag["Key"]: tag.get("Value", tag.get("Value.$"))
            for tag in json.loads(t.DEFINITION.read_text())["States"]["Create the EMR cluster"]["Parameters"]["Tags"]}
    (execution_pattern,) = statement["Condition"]["StringLike"].values()
    assert list(statement["Condition"]["StringLike"]) == ["elasticmapreduce:RequestTag/orchard:execution-arn"]
    assert tags["orchard:execution-arn"] == "$$.Execution.Id"
    machine_name = t.state_machine()["Properties"]["Name"]["Fn::Sub"]
    assert execution_pattern["Fn::Sub"].endswith(f":execution:{machine_name}:*")
    assert statement["Condition"]["StringEquals"] == {
        "elasticmapreduce:RequestTag/for-use-with-amazon-emr-managed-policies": tags["for-use-with-amazon-emr-managed-policies"]}
    work = state_machine_role_statement("WorkOnlyOnClustersOfItsExecutions")
    assert work["Condition"]["StringLike"] == {"elasticmapreduce:ResourceTag/orchard:execution-arn": execution_pattern}


def test_the_state_machine_may_create_emr_cleanup_role_and_nothing_else():
    """The EMR guide's statement ("Using service-linked roles for Amazon EMR for cleanup"), kept to this account."""
    statement = state_machine_role_statement("CreateEmrCleanupRoleOnFirstUse")
    assert statement["Action"] == ["iam:CreateServiceLinkedRole", "iam:PutRolePolicy"]
    assert statement["Resource"]["Fn::Sub"] == ("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"
                                                "elasticmapreduce.amazonaws.com*/AWSServiceRoleForEMRCleanup*")
    assert statement["Condition"] == {"StringLike": {"iam:AWSServiceName": [
        "elasticmapreduce.amazonaws.com", "elasticmapreduce.amazonaws.com.cn"]}}


def test_the_default_network_has_a_subnet_in_each_of_two_zones_tagged_for_emr_managed_policies():
    """AmazonEMRServicePolicy_v2 launches into tagged subnets and makes its security groups in tagged VPCs only; the
    fleets get a subnet in each of two Availability Zones, routed alike, for EMR to choose the one with capacity."""
    emr_tag = {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}
    subnets = ("ClusterSubnetA", "ClusterSubnetB")
    for name in ("ClusterVpc", *subnets):
        resource = t.resources()[name]
        assert resource["Condition"] == "CreateClusterNetwork" and emr_tag in resource["Properties"]["Tags"], name
    zones = [t.resources()[name]["Properties"]["AvailabilityZone"] for name in subnets]
    assert zones == [{"Fn::Select": [0, {"Fn::GetAZs": ""}]}, {"Fn::Select": [1, {"Fn::GetAZs": ""}]}]
    routed = {association["Properties"]["SubnetId"]["Ref"]: association["Properties"]["RouteTableId"]
              for association in t.resources("AWS::EC2::SubnetRouteTableAssociation").values()}
    assert routed == dict.fromkeys(subnets, {"Ref": "ClusterRouteTable"})
    assert t.resources()["ClusterVpc"]["Properties"]["EnableDnsHostnames"] is True
    assert aws_deployed.stack().lazy_condition_map["CreateClusterNetwork"]  # the defaults make the stack's network
    subnet_ids = t.functions()["PrepareRunFunction"]["Properties"]["Environment"]["Variables"]["SUBNET_IDS"]
    assert subnet_ids == {"Fn::If": ["CreateClusterNetwork",
                                     {"Fn::Join": [",", [{"Ref": "ClusterSubnetA"}, {"Ref": "ClusterSubnetB"}]]},
                                     {"Fn::Join": [",", {"Ref": "SubnetIds"}]}]}


def test_the_definition_and_the_clean_up_hold_slots_in_the_same_item_the_same_way():
    """The state machine takes and releases slots, the clean-up function releases them too: one key, one counter,
    one release, and the table's key is that key's."""
    from orchard_functions.slots import HELD, RELEASE_CONDITION, RELEASE_EXPRESSION, SLOTS_KEY

    machine = json.loads(t.DEFINITION.read_text())["States"]
    slot_tasks = [state["Parameters"] for state in machine.values()
                  if state.get("Resource") in ("${DynamoDbUpdateItem}", "${DynamoDbGetItem}")]
    assert len(slot_tasks) == 4
    for parameters in slot_tasks:
        assert parameters["TableName"] == "${SlotsTableName}" and parameters["Key"] == SLOTS_KEY
        assert parameters["ExpressionAttributeNames"]["#holder.$"] == "$$.Execution.Id"
        assert parameters["ExpressionAttributeNames"].get("#held", HELD) == HELD
    releases = [p for p in slot_tasks if "REMOVE" in p.get("UpdateExpression", "")]
    assert len(releases) == 2
    assert all((p["UpdateExpression"], p["ConditionExpression"]) == (RELEASE_EXPRESSION, RELEASE_CONDITION)
               for p in releases)
    table = t.resources()["SlotsTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"} for key in SLOTS_KEY]
    assert t.functions()["CleanUpFunction"]["Properties"]["Environment"]["Variables"]["SLOTS_TABLE"] == {
        "Ref": "SlotsTable"}


def test_the_slot_wait_is_bounded_in_minutes_by_polls_a_minute_apart():
    """The wait counts polls; MaxSlotWaitMinutes of them, SlotPollSeconds apart, make its minutes only at 60 s."""
    assert t.substitutions()["SlotPollSeconds"] == "60"
    assert t.substitutions()["SlotWaitPolls"] == {"Ref": "MaxSlotWaitMinutes"}
    assert t.substitutions()["MaxConcurrentRuns"] == {"Ref": "MaxConcurrentRuns"}
    parameters = t.template()["Parameters"]
    assert (parameters["MaxConcurrentRuns"]["Default"], parameters["MaxConcurrentRuns"]["MinValue"]) == (2, 1)
    assert parameters["MaxSlotWaitMinutes"]["MinValue"] >= 1


def test_slots_are_held_with_exactly_the_dynamodb_actions_needed():
    state_machine = state_machine_role_statement("HoldClusterSlots")
    assert state_machine["Action"] == ["dynamodb:UpdateItem", "dynamodb:GetItem"]
    assert state_machine["Resource"] == {"Fn::GetAtt": ["SlotsTable", "Arn"]}
    dynamodb_grants = [(owner, s) for owner, s in allow_statements()
                       if any(action.startswith("dynamodb:") for action in as_list(s["Action"]))]
    assert [(owner, s["Action"], s["Resource"]) for owner, s in dynamodb_grants] == [
        ("CleanUpFunction", ["dynamodb:UpdateItem"], {"Fn::GetAtt": ["SlotsTable", "Arn"]}),
        ("StateMachineRole", ["dynamodb:UpdateItem", "dynamodb:GetItem"], {"Fn::GetAtt": ["SlotsTable", "Arn"]}),
    ]
