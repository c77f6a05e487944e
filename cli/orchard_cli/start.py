"""Starting a run: a local manifest uploaded under `manifests/` in the inputs bucket (its S3 event starts the
execution named after the upload: orchard_contract.run_names), or a manifest already in S3 started by hand."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from orchard_cli.deployment import Deployment
from orchard_cli.errors import CliError, NotStarted
from orchard_cli.runs import described_execution
from orchard_contract.run_names import (
    MANIFESTS_PREFIX,
    execution_arn,
    execution_name,
    is_manifest_key,
    started_by_hand_name,
)

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

START_TIMEOUT_SECONDS = 300.0  # an S3 event reaches the start function through EventBridge, retried on failure
POLL_SECONDS = 2.0


def upload_manifest(deployment: Deployment, manifest: Path) -> tuple[str, str]:
    """Put the manifest under manifests/ in the inputs bucket; its URI and the ARN of the execution its upload
    starts. The bucket is versioned, so PutObject answers the version id S3 gave the object (Amazon S3 API Reference,
    "PutObject": https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html), which names the execution."""
    key = MANIFESTS_PREFIX + manifest.name
    if not is_manifest_key(key):
        raise CliError(f"{manifest}: a manifest's file name ends with .json (only manifests/*.json start runs)")
    bucket = deployment.inputs_bucket
    answer = deployment.s3.put_object(Bucket=bucket, Key=key, Body=manifest.read_bytes(),
                                      ContentType="application/json")
    name = execution_name(bucket, key, answer.get("VersionId"), answer["ETag"])
    return f"s3://{bucket}/{key}", execution_arn(deployment.state_machine_arn, name)


def start_by_uri(deployment: Deployment, manifest_uri: str) -> str:
    """Start an execution by hand with the manifest's S3 URI as its input, named after the manifest as an upload's
    (StartExecution: AWS Step Functions API Reference, "StartExecution",
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html); its ARN."""
    return deployment.stepfunctions.start_execution(
        stateMachineArn=deployment.state_machine_arn, name=started_by_hand_name(manifest_uri),
        input=json.dumps({"manifest_uri": manifest_uri}))["executionArn"]


def wait_for_start(stepfunctions: SFNClient, arn: str, timeout_seconds: float = START_TIMEOUT_SECONDS,
                   poll_seconds: float = POLL_SECONDS) -> None:
    """Wait until the execution exists (DescribeExecution stops answering ExecutionDoesNotExist)."""
    deadline = time.monotonic() + timeout_seconds
    while described_execution(stepfunctions, arn) is None:
        if time.monotonic() > deadline:
            raise NotStarted(f"no execution {arn.rsplit(':', 1)[1]} after {timeout_seconds:.0f} s: the upload's event "
                             "started nothing (see the start function's logs and the stack's LostEventsQueue)")
        time.sleep(poll_seconds)
