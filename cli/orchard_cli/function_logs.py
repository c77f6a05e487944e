"""A failed function's log lines, from its log group in CloudWatch Logs.

A function logs to the log group `/aws/lambda/<function name>` by default (AWS Lambda Developer Guide, "Sending
Lambda function logs to CloudWatch Logs"; template.yaml gives each function's log group that name, with a retention),
and its lines may take minutes to arrive. An invocation's lines are those of its time span, read with FilterLogEvents
between a start and an end time in milliseconds (Amazon CloudWatch Logs API Reference, "FilterLogEvents":
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html): in a stack running
runs at once, another run's invocation of the same function in that span shows too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from orchard_cli.history import FailedInvocation

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

MARGIN = timedelta(seconds=0.5)  # around the span Step Functions saw: the clocks of two services


def function_name(function_arn: str) -> str:
    """`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` -> `<name>`."""
    return function_arn.split(":")[6]


def log_group(function_arn: str) -> str:
    return f"/aws/lambda/{function_name(function_arn)}"


def invocation_lines(logs: CloudWatchLogsClient, invocation: FailedInvocation) -> list[str] | None:
    """The log lines of the function in the invocation's time span, oldest first; None when it has no log group."""
    start, end = invocation.scheduled - MARGIN, invocation.ended + MARGIN
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=log_group(invocation.function_arn),
        startTime=int(start.timestamp() * 1000), endTime=int(end.timestamp() * 1000))
    try:
        events = [event for page in pages for event in page["events"]]
    except logs.exceptions.ResourceNotFoundException:
        return None
    ordered = sorted(events, key=lambda event: event["timestamp"])
    return [line for event in ordered for line in event["message"].rstrip("\n").splitlines()]
