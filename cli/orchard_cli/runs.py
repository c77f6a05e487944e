"""Runs of the deployed stack: one found by its id, execution name or ARN, or the most recent ones; each an execution of
the pipeline with its history.

Step Functions removes a Standard workflow's execution history data after 90 days (AWS Step Functions Developer Guide,
"Execution guarantees", https://docs.aws.amazon.com/step-functions/latest/dg/express-at-least-once-execution.html);
older runs are left with their outputs and `run_summary.json` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from orchard_cli.deployment import Deployment
from orchard_cli.errors import UnknownRun
from orchard_cli.history import (
    Event,
    FailedInvocation,
    StateRun,
    emr_ids,
    execution_history,
    failed_invocations,
    run_plan,
    run_summary,
    states_of,
)
from orchard_contract.run_links import run_links
from orchard_contract.run_names import execution_arn, is_run_of

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.literals import ExecutionStatusType
    from mypy_boto3_stepfunctions.type_defs import ListExecutionsInputPaginateTypeDef

LIST_PAGE_SIZE = 1000  # ListExecutions' largest page
READERS = 4  # histories read at once for a listing
NOT_FOUND = ("ExecutionDoesNotExist", "InvalidArn")


@dataclass(frozen=True)
class Run:
    """An execution of the pipeline (DescribeExecution's answer, or an item of ListExecutions: ARN, name, status,
    start and stop dates) and its history."""

    execution: Mapping[str, Any]
    events: Sequence[Event]

    @property
    def arn(self) -> str:
        return str(self.execution["executionArn"])

    @property
    def status(self) -> str:
        return str(self.execution["status"])

    @property
    def started(self) -> datetime:
        return self.execution["startDate"]  # botocore parses timestamps as datetime

    @property
    def seconds(self) -> float:
        """How long it ran, or has run so far."""
        return ((self.execution.get("stopDate") or datetime.now(UTC)) - self.started).total_seconds()

    @cached_property
    def plan(self) -> dict[str, Any] | None:
        return run_plan(self.events)

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        return run_summary(self.events)

    @cached_property
    def states(self) -> list[StateRun]:
        return states_of(self.events)

    @cached_property
    def failed_invocations(self) -> list[FailedInvocation]:
        return failed_invocations(self.events)

    @property
    def run_id(self) -> str | None:
        """The run's id, once Prepare the run has given it one."""
        known = self.summary or self.plan or {}
        return known.get("run_id")

    @property
    def label(self) -> str:
        """What names the run for a person: its id, else its execution's name."""
        return self.run_id or str(self.execution["name"])

    @property
    def output_uri(self) -> str | None:
        known = self.summary or self.plan or {}
        return known.get("output_uri")

    @property
    def links(self) -> Mapping[str, str | None]:
        """The summary's links, or while the run has none, the same links from its plan and history."""
        if self.summary:
            return self.summary["links"]
        cluster_id, step_id = emr_ids(self.events)
        return run_links(region=self.arn.split(":")[3], execution_arn=self.arn,
                         log_uri=self.plan["log_uri"] if self.plan else None, cluster_id=cluster_id, step_id=step_id)

    @property
    def error(self) -> tuple[str, str | None] | None:
        """The error and cause the execution ended with (DescribeExecution), else those its summary recorded."""
        if self.execution.get("error"):
            return self.execution["error"], self.execution.get("cause")
        recorded = (self.summary or {}).get("error")
        return (recorded["Error"], recorded.get("Cause")) if recorded else None


def recent_runs(deployment: Deployment, *, status: str | None, limit: int) -> list[Run]:
    """The `limit` most recent runs (of that status), newest start first. ListExecutions lists running executions by
    start and ended ones by stop, the most recent first, and filters by status (AWS Step Functions API Reference,
    "ListExecutions": https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html)."""
    stepfunctions = deployment.stepfunctions
    request: ListExecutionsInputPaginateTypeDef = {"stateMachineArn": deployment.state_machine_arn,
                                                   "PaginationConfig": {"PageSize": min(limit, LIST_PAGE_SIZE)}}
    if status:
        request["statusFilter"] = cast("ExecutionStatusType", status)
    pages = stepfunctions.get_paginator("list_executions").paginate(**request)
    listed: list[Mapping[str, Any]] = []
    for page in pages:
        listed += page["executions"][:limit - len(listed)]
        if len(listed) == limit:
            break
    with ThreadPoolExecutor(READERS) as readers:
        runs = list(readers.map(lambda item: Run(item, execution_history(stepfunctions, item["executionArn"])), listed))
    return sorted(runs, key=lambda run: run.started, reverse=True)


def find_run(deployment: Deployment, run: str) -> Run:
    """The run `run` names: an execution ARN, an execution name, or a run id (which ends with its execution's hash:
    orchard_contract.run_names), with its history."""
    stepfunctions = deployment.stepfunctions
    arn = run if run.startswith("arn:") else execution_arn(deployment.state_machine_arn, run)
    described = described_execution(stepfunctions, arn)
    if described and described["stateMachineArn"] == deployment.state_machine_arn:
        return Run(described, execution_history(stepfunctions, arn))
    pages = stepfunctions.get_paginator("list_executions").paginate(
        stateMachineArn=deployment.state_machine_arn, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
    for page in pages:
        for item in page["executions"]:
            if is_run_of(run, item["executionArn"]):
                return Run(stepfunctions.describe_execution(executionArn=item["executionArn"]),
                           execution_history(stepfunctions, item["executionArn"]))
    raise UnknownRun(f"no run {run!r} on stack {deployment.stack_name}: give a run id, an execution name or an "
                     "execution ARN (orchard runs lists the runs)")


def described_execution(stepfunctions: SFNClient, arn: str) -> dict[str, Any] | None:
    """DescribeExecution's answer, or None for an execution that does not exist or an ARN that is none (its errors
    ExecutionDoesNotExist and InvalidArn: AWS Step Functions API Reference, "DescribeExecution",
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html)."""
    try:
        return dict(stepfunctions.describe_execution(executionArn=arn))
    except ClientError as error:
        if error.response["Error"]["Code"] in NOT_FOUND:
            return None
        raise
