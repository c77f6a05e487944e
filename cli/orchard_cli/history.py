"""An execution's history as `orchard` reads it: the states it went through, what its functions returned (the run
plan, the run summary), the function invocations that failed, the EMR cluster and step it made.

Step Functions' GetExecutionHistory gives the events oldest first, each with its `timestamp`, `type`, `id`,
`previousEventId` and the details of its type (AWS Step Functions API Reference, "GetExecutionHistory" and
"HistoryEvent": https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

Event = Mapping[str, Any]
PAGE_SIZE = 1000  # GetExecutionHistory's largest page
FUNCTION_ENDS = {"LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
                 "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails"}


@dataclass(frozen=True)
class StateRun:
    """One state of an execution, as the console lists it."""

    name: str
    entered: datetime
    exited: datetime | None
    status: str  # Running, Succeeded, Failed, or Caught (it failed and its Catch took over)
    attempts: int  # calls of its task, retries included (0 for states without a task)


@dataclass(frozen=True)
class FailedInvocation:
    """A Lambda function's invocation that failed (or timed out), and when."""

    function_arn: str
    scheduled: datetime
    ended: datetime
    error: str | None
    cause: str | None


def execution_history(stepfunctions: SFNClient, execution_arn: str) -> list[Event]:
    """Every event of the execution, oldest first."""
    pages = stepfunctions.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, PaginationConfig={"PageSize": PAGE_SIZE})
    return [event for page in pages for event in page["events"]]


def states_of(events: Sequence[Event]) -> list[StateRun]:
    """The states entered, in order: times, how each ended, how many attempts its task took."""
    runs: list[dict[str, Any]] = []
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            runs.append({"name": event["stateEnteredEventDetails"]["name"], "entered": event["timestamp"],
                         "exited": None, "status": "Running", "attempts": 0})
        elif not runs:
            continue
        elif kind.endswith("Scheduled"):
            runs[-1]["attempts"] += 1
        elif kind.endswith("Succeeded") and kind != "ExecutionSucceeded":
            runs[-1]["status"] = "Succeeded"
        elif kind.endswith(("Failed", "TimedOut")):
            runs[-1].update(status="Failed", exited=runs[-1]["exited"] or event["timestamp"])
        elif kind.endswith("StateExited"):
            runs[-1].update(exited=event["timestamp"],
                            status="Caught" if runs[-1]["status"] == "Failed" else "Succeeded")
    return [StateRun(**run) for run in runs]


def function_results(events: Sequence[Event]) -> Iterator[dict[str, Any]]:
    """What the Lambda functions returned, oldest first: each JSON object a `LambdaFunctionSucceeded` event gives."""
    for event in events:
        if event["type"] == "LambdaFunctionSucceeded":
            output = json.loads(event["lambdaFunctionSucceededEventDetails"].get("output") or "null")
            if isinstance(output, dict):
                yield output


def run_plan(events: Sequence[Event]) -> dict[str, Any] | None:
    """The run plan Prepare the run returned (its id, output and log locations), once it has."""
    return next((result for result in function_results(events) if {"run_id", "output_uri", "log_uri"} <= result.keys()),
                None)


def run_summary(events: Sequence[Event]) -> dict[str, Any] | None:
    """The run summary the record-metrics function returned (`run_summary.json`), once it has."""
    return next((result for result in reversed(list(function_results(events))) if "summary_version" in result), None)


def failed_invocations(events: Sequence[Event]) -> list[FailedInvocation]:
    """Each function invocation that failed or timed out, with the function and its time span (the failure's event
    leads back, by `previousEventId`, to the `LambdaFunctionScheduled` event naming the function)."""
    by_id = {event["id"]: event for event in events}
    failed = []
    for event in events:
        details_key = FUNCTION_ENDS.get(event["type"])
        if details_key is None:
            continue
        scheduled = event
        while scheduled["type"] != "LambdaFunctionScheduled" and scheduled.get("previousEventId") in by_id:
            scheduled = by_id[scheduled["previousEventId"]]
        if scheduled["type"] == "LambdaFunctionScheduled":
            details = event.get(details_key, {})
            failed.append(FailedInvocation(
                function_arn=scheduled["lambdaFunctionScheduledEventDetails"]["resource"],
                scheduled=scheduled["timestamp"], ended=event["timestamp"],
                error=details.get("error"), cause=details.get("cause")))
    return failed


def emr_ids(events: Sequence[Event]) -> tuple[str | None, str | None]:
    """The EMR cluster and step the run's tasks made: the `ClusterId` and `StepId` of the EMR integration's answers
    (Step Functions Developer Guide, "Create and manage Amazon EMR clusters with Step Functions")."""
    cluster_id = step_id = None
    for event in events:
        if event["type"] in ("TaskSubmitted", "TaskSucceeded"):
            details = event.get("taskSubmittedEventDetails") or event.get("taskSucceededEventDetails") or {}
            if details.get("resourceType") == "elasticmapreduce":
                output = json.loads(details.get("output") or "{}")
                cluster_id = output.get("ClusterId", cluster_id)
                step_id = output.get("StepId", step_id)
    return cluster_id, step_id
