"""Lambda's logs of the functions run in-process: each invocation's lines, into the function's log group in (moto's)
CloudWatch Logs, as Lambda sends them.

Lambda sends what a function logs to its log group, `/aws/lambda/<function name>` by default (AWS Lambda Developer
Guide, "Sending Lambda function logs to CloudWatch Logs"; template.yaml declares each function's, which the local stack
creates), in a log stream per execution environment named `<date>/[$LATEST]<id>` (here a stream per invocation).
Python's runtime logs an unhandled exception as one event, `[ERROR] <type>: <message>` and the traceback
(aws-lambda-python-runtime-interface-client, `bootstrap.log_error`). The lines here are the records of the functions'
Powertools logger (named after POWERTOOLS_SERVICE_NAME), formatted as its own handler formats them, while the
invocation runs (one at a time: orchard_local.lambda_service), then the error event of a failed one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3

from orchard_local.account import REGION

HARNESS = str(Path(__file__).parent)


class Collected(logging.Handler):
    """Keeps each record, formatted, with its time in milliseconds."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((int(record.created * 1000), self.format(record)))


def error_event(error: BaseException) -> str:
    """An unhandled exception as Python's runtime logs it, without the runtime's frames (here, the harness's)."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if HARNESS not in frame.filename]
    stack = "".join(traceback.format_list(frames)).rstrip("\n")
    return f"[ERROR] {type(error).__name__}: {error}\nTraceback (most recent call last):\n{stack}"


@contextlib.contextmanager
def invocation_logs(function_arn: str) -> Iterator[None]:
    """For the block, an invocation of the function: what it logs goes to its log group afterwards."""
    logger = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "service_undefined"))
    powertools = getattr(logger, "powertools_handler", None)
    collected = Collected(powertools.formatter if powertools else None)
    logger.addHandler(collected)
    try:
        yield
    except Exception as error:
        collected.lines.append((int(time.time() * 1000), error_event(error)))
        raise
    finally:
        logger.removeHandler(collected)
        send(function_arn, collected.lines)


def send(function_arn: str, lines: list[tuple[int, str]]) -> None:
    """Put the lines in a new stream of the function's log group (none without a deployed stack's log group)."""
    logs = boto3.client("logs", region_name=REGION)
    group = f"/aws/lambda/{function_arn.split(':')[6]}"
    stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceNotFoundException:
        return
    if lines:
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": moment, "message": line} for moment, line in lines])
