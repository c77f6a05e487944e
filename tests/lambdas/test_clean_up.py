"""Clean up: an execution that has ended gets its active EMR clusters terminated, and no others, then its cluster
slot released, and no other."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.parser import ValidationError
from botocore.exceptions import ClientError

from orchard_functions.clusters import EXECUTION_TAG, clusters_of_execution
from orchard_functions.slots import HELD, SLOTS_KEY
from orchard_local.account import ACCOUNT, REGION, SLOTS_TABLE, STATE_MACHINE_ARN
from orchard_local.events import execution_status_change

EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:orchard-pipeline:mini-0123456789abcdef"
OTHER_EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:orchard-pipeline:apples-fedcba9876543210"


@pytest.fixture
def app(slots):
    from clean_up import app

    return app


def hold(dynamodb, *execution_arns: str) -> None:
    """The slot item as the state machine leaves it when these executions each took a slot."""
    holders = {arn: {"S": "2026-11-27T21:05:03.412Z"} for arn in execution_arns}
    dynamodb.put_item(TableName=SLOTS_TABLE, Item={**SLOTS_KEY, HELD: {"N": str(len(execution_arns))}, **holders})


def slot_item(dynamodb) -> dict:
    return dynamodb.get_item(TableName=SLOTS_TABLE, Key=SLOTS_KEY, ConsistentRead=True).get("Item", {})


def create_cluster(emr, execution_arn: str | None) -> str:
    """A cluster as the state machine creates one (in moto it waits, with no steps), tagged with its execution."""
    tags = [{"Key": "orchard:run-id", "Value": "mini-20261127T210501Z-1a2b3c4d"}]
    if execution_arn:
        tags.append({"Key": EXECUTION_TAG, "Value": execution_arn})
    return emr.run_job_flow(
        Name="orchard-mini",
        ReleaseLabel="emr-7.13.0",
        Applications=[{"Name": "Spark"}],
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="orchard-emr-instance-profile",
        ServiceRole="orchard-emr-service-role",
        Tags=tags,
    )["JobFlowId"]


def state(emr, cluster_id: str) -> str:
    return emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]


def status_change(status: str, execution_arn: str = EXECUTION_ARN) -> dict:
    return execution_status_change(execution_arn, STATE_MACHINE_ARN, status)


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"])
def test_terminates_only_the_active_clusters_tagged_with_the_execution(app, emr, lambda_context, status):
    ours = [create_cluster(emr, EXECUTION_ARN), create_cluster(emr, EXECUTION_ARN)]
    other = create_cluster(emr, OTHER_EXECUTION_ARN)
    untagged = create_cluster(emr, None)
    already_terminated = create_cluster(emr, EXECUTION_ARN)
    emr.terminate_job_flows(JobFlowIds=[already_terminated])

    result = app.handler(status_change(status), lambda_context)

    assert sorted(result["terminated"]) == sorted(ours)
    assert [state(emr, c) for c in ours] == ["TERMINATED", "TERMINATED"]
    assert (state(emr, other), state(emr, untagged)) == ("WAITING", "WAITING")


def test_the_state_machine_can_call_it_with_the_events_detail_alone(app, emr, lambda_context):
    """When cluster creation fails the cluster id is unknown: the workflow sends the detail to terminate by tag."""
    ours = create_cluster(emr, EXECUTION_ARN)
    other = create_cluster(emr, OTHER_EXECUTION_ARN)
    detail = {"executionArn": EXECUTION_ARN, "stateMachineArn": STATE_MACHINE_ARN, "status": "FAILED"}

    assert app.handler({"detail": detail}, lambda_context)["terminated"] == [ours]
    assert state(emr, other) == "WAITING"


def test_an_execution_without_clusters_terminates_nothing(app, emr, lambda_context):
    other = create_cluster(emr, OTHER_EXECUTION_ARN)

    assert app.handler(status_change("ABORTED"), lambda_context) == {"terminated": [], "slot_released": False}
    assert state(emr, other) == "WAITING"


def test_clusters_on_every_page_are_found(app, emr, lambda_context):
    ours = [create_cluster(emr, EXECUTION_ARN) for _ in range(55)]  # ListClusters returns 50 a page

    result = app.handler(status_change("TIMED_OUT"), lambda_context)

    assert sorted(result["terminated"]) == sorted(ours)


def test_an_event_for_a_running_execution_is_refused(app, emr, lambda_context):
    ours = create_cluster(emr, EXECUTION_ARN)

    with pytest.raises(ValidationError):
        app.handler(status_change("RUNNING"), lambda_context)
    assert state(emr, ours) == "WAITING"


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"])
def test_releases_the_slot_the_execution_holds_and_only_it(app, slots, lambda_context, status):
    """The backstop for executions that end without releasing their slot (aborted, timed out: no Catch runs)."""
    hold(slots, EXECUTION_ARN, OTHER_EXECUTION_ARN)

    assert app.handler(status_change(status), lambda_context)["slot_released"] is True

    assert slot_item(slots) == {**SLOTS_KEY, HELD: {"N": "1"}, OTHER_EXECUTION_ARN: {"S": "2026-11-27T21:05:03.412Z"}}


def test_releasing_is_idempotent_and_an_execution_without_a_slot_changes_nothing(app, slots, lambda_context):
    hold(slots, EXECUTION_ARN, OTHER_EXECUTION_ARN)
    first = app.handler(status_change("ABORTED"), lambda_context)
    after_first = slot_item(slots)

    again = app.handler(status_change("ABORTED"), lambda_context)  # EventBridge delivers at least once

    assert (first["slot_released"], again["slot_released"]) == (True, False)
    assert slot_item(slots) == after_first
    assert after_first[HELD] == {"N": "1"}


def test_no_slot_item_yet_is_left_absent(app, slots, lambda_context):
    """A conditional update on a missing item fails the condition and creates nothing."""
    assert app.handler(status_change("FAILED"), lambda_context)["slot_released"] is False
    assert slot_item(slots) == {}


def test_a_failed_termination_keeps_the_slot_for_the_retry(app, emr, slots, lambda_context, monkeypatch):
    """A slot stands for a cluster: it is released only once the cluster's termination is under way. The function's
    error makes Lambda try the event again (EventInvokeConfig), the slot still held."""
    create_cluster(emr, EXECUTION_ARN)
    hold(slots, EXECUTION_ARN)

    def throttled(**_):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "TerminateJobFlows")
    monkeypatch.setattr(app.emr, "terminate_job_flows", throttled)

    with pytest.raises(ClientError):
        app.handler(status_change("ABORTED"), lambda_context)
    assert EXECUTION_ARN in slot_item(slots)


def describe(cluster_id: str, state: str, tags: dict[str, str]) -> dict:
    return {"Id": cluster_id, "Status": {"State": state}, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def test_clusters_of_execution_match_the_tag_value_exactly_and_only_active_states():
    descriptions = [
        describe("j-STARTING", "STARTING", {EXECUTION_TAG: EXECUTION_ARN}),
        describe("j-BOOTSTRAPPING", "BOOTSTRAPPING", {EXECUTION_TAG: EXECUTION_ARN}),
        describe("j-RUNNING", "RUNNING", {EXECUTION_TAG: EXECUTION_ARN, "team": "fruit"}),
        describe("j-WAITING", "WAITING", {EXECUTION_TAG: EXECUTION_ARN}),
        describe("j-TERMINATING", "TERMINATING", {EXECUTION_TAG: EXECUTION_ARN}),
        describe("j-TERMINATED_WITH_ERRORS", "TERMINATED_WITH_ERRORS", {EXECUTION_TAG: EXECUTION_ARN}),
        describe("j-OTHER", "RUNNING", {EXECUTION_TAG: OTHER_EXECUTION_ARN}),
        describe("j-PREFIX", "RUNNING", {EXECUTION_TAG: EXECUTION_ARN + "0"}),
        describe("j-OTHER-KEY", "RUNNING", {"execution-arn": EXECUTION_ARN}),
        {"Id": "j-NO-TAGS", "Status": {"State": "RUNNING"}},
    ]

    assert clusters_of_execution(descriptions, EXECUTION_ARN) == [
        "j-STARTING",
        "j-BOOTSTRAPPING",
        "j-RUNNING",
        "j-WAITING",
    ]
