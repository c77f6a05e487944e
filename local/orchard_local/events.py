"""The AWS events the deployment reacts to, shaped as the services send them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

from orchard_local.account import ACCOUNT, REGION


def object_created_event(bucket: str, key: str, put_response: Mapping[str, Any], size: int) -> dict[str, Any]:
    """The EventBridge "Object Created" event S3 sends for a PutObject (its key URL-encoded, as S3 does)."""
    detail_object = {"key": quote_plus(key, safe="/"), "size": size, "etag": put_response["ETag"].strip('"')}
    if put_response.get("VersionId"):
        detail_object["version-id"] = put_response["VersionId"]
    detail_object["sequencer"] = "00617F08299329D189"
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-27T21:05:01Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": detail_object,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
        },
    }


def execution_status_change(execution_arn: str, state_machine_arn: str, status: str) -> dict[str, Any]:
    """The EventBridge "Step Functions Execution Status Change" event for an execution now `status`
    (Step Functions Developer Guide, "Automating Step Functions event delivery with EventBridge")."""
    failed = status == "FAILED"
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT,
        "time": "2026-11-27T21:47:12Z",
        "region": REGION,
        "resources": [execution_arn],
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": state_machine_arn,
            "name": execution_arn.rsplit(":", 1)[1],
            "status": status,
            "startDate": 1795813501000,
            "stopDate": None if status == "RUNNING" else 1795816032000,
            "input": '{"manifest_uri": "s3://orchard-inputs-local/manifests/mini.json"}',
            "output": None,
            "inputDetails": {"included": True},
            "outputDetails": None,
            "error": "States.Runtime" if failed else None,
            "cause": "An error occurred while executing the state 'Check outputs'." if failed else None,
        },
    }
