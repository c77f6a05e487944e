"""EventBridge as template.yaml wires it: each function's rules, and their targets invoked as Lambda does.

An event is matched against the pattern of every `EventBridgeRule` event source of the template's functions by
moto's EventBridge pattern matcher (what its rules use; moto has no TestEventPattern). A matching rule's function
is invoked asynchronously, as EventBridge invokes Lambda: a function error is not a failed delivery; Lambda tries
the event again `EventInvokeConfig.MaximumRetryAttempts` times, then sends an invocation record to the on-failure
destination (AWS Lambda Developer Guide, "Capturing records of Lambda asynchronous invocations",
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html). Failed deliveries of the
invocation itself (the rule's RetryPolicy and DeadLetterConfig) are not played here.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.events.models import EventPattern

from orchard_local import template as t
from orchard_local.account import REGION
from orchard_local.deployed import stack

LAMBDA_DEFAULT_RETRIES = 2  # asynchronous invocation, when EventInvokeConfig does not say


@dataclass(frozen=True)
class RuleTarget:
    """One EventBridge rule of the template and the function it invokes."""

    rule: str  # SAM names the rule <function logical id><event logical id>
    pattern: dict[str, Any]
    function_arn: str
    retries: int
    on_failure_arn: str | None


def rule_targets(names: dict[str, str]) -> list[RuleTarget]:
    """Every EventBridge rule of the template's functions, as deployed (`names`: the deployed function ARNs)."""
    targets = []
    for logical, function in t.functions().items():
        invoke_config = function["Properties"].get("EventInvokeConfig", {})
        on_failure = invoke_config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        for event_name, source in function["Properties"].get("Events", {}).items():
            if source["Type"] == "EventBridgeRule":
                targets.append(RuleTarget(
                    rule=logical + event_name,
                    pattern=stack().render(source["Properties"]["Pattern"]),
                    function_arn=names[f"{logical}.Arn"],
                    retries=invoke_config.get("MaximumRetryAttempts", LAMBDA_DEFAULT_RETRIES),
                    on_failure_arn=stack().render(on_failure) if on_failure else None,
                ))
    return targets


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether `event` matches the rule pattern `pattern`, as moto's EventBridge rules match."""
    # moto types the event as its own TypedDict of an S3 notification; it reads any event's fields as a dict's
    return EventPattern.load(json.dumps(pattern)).matches_event(event)  # type: ignore[arg-type]


def invocation_record(function_arn: str, event: Any, error: Exception, attempts: int) -> dict[str, Any]:
    """What Lambda sends to an on-failure destination once an asynchronous invocation has failed every attempt."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {"requestId": "c0ffee00-0000-4000-8000-000000000000",
                           "functionArn": f"{function_arn}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__,
                            "stackTrace": traceback.format_tb(error.__traceback__)},
    }


def invoke_async(call: Callable[[str, Any], Any], target: RuleTarget, event: dict[str, Any]) -> Any | None:
    """Invoke the target as Lambda invokes asynchronously: its result, or None once every attempt failed and
    the invocation record went to the on-failure destination (an SQS queue)."""
    attempts = 1 + target.retries
    for attempt in range(1, attempts + 1):
        try:
            return call(target.function_arn, event)
        except Exception as error:  # a function error: Lambda tries again, then gives up
            if attempt == attempts and target.on_failure_arn:
                sqs = boto3.client("sqs", region_name=REGION)
                queue_url = sqs.get_queue_url(QueueName=target.on_failure_arn.rsplit(":", 1)[1])["QueueUrl"]
                record = invocation_record(target.function_arn, event, error, attempts)
                sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
    return None
