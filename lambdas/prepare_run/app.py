"""Prepare the run: validate the manifest, resolve it, plan the cluster and the Spark step."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from orchard_pipeline.run_plan import Deployment, InvalidManifest, plan_run, validated_manifest
from orchard_pipeline.s3uri import NotAnS3Uri, split_s3_uri

logger = Logger()
tracer = Tracer()
s3 = boto3.client("s3")

DEPLOYMENT = Deployment(
    outputs_bucket=os.environ["OUTPUTS_BUCKET"],
    logs_bucket=os.environ["LOGS_BUCKET"],
    artifacts_uri=os.environ["ARTIFACTS_URI"],
    model_store_uri=os.environ["MODEL_STORE_URI"],
    primary_instance_type=os.environ["PRIMARY_INSTANCE_TYPE"],
    core_instance_type=os.environ["CORE_INSTANCE_TYPE"],
    core_instance_count=int(os.environ["CORE_INSTANCE_COUNT"]),
    core_market=os.environ["CORE_MARKET"],
    idle_timeout_minutes=int(os.environ["IDLE_TIMEOUT_MINUTES"]),
    max_run_minutes=int(os.environ["MAX_RUN_MINUTES"]),
    subnet_id=os.environ.get("SUBNET_ID", ""),
)


class PrepareRunRequest(BaseModel):
    """What the state machine passes: the execution input, its ARN and start time."""

    input: dict[str, Any]
    execution_arn: str
    execution_started_at: datetime


def read_manifest(uri: str, version_id: str | None) -> Any:
    """The manifest document stored at `uri` (that version, when given)."""
    try:
        bucket, key = split_s3_uri(uri)
    except NotAnS3Uri:
        raise InvalidManifest(f"$.manifest_uri: {uri!r} is not an s3:// URI") from None
    extra = {"VersionId": version_id} if version_id else {}
    try:
        body = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise InvalidManifest(f"{uri}: no such manifest") from None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidManifest(f"{uri}: not valid JSON: {exc}") from None


@tracer.capture_method
def prepare_run(*, execution_input: dict[str, Any], execution_arn: str, started_at: datetime) -> dict[str, Any]:
    """Validate and resolve the manifest, store the resolved copy next to the outputs, return the plan."""
    if "manifest_uri" in execution_input:
        source = execution_input["manifest_uri"]
        document = read_manifest(source, execution_input.get("version_id"))
    else:
        source, document = None, execution_input
    manifest = validated_manifest(document, source)
    plan = plan_run(manifest, source, execution_arn, started_at, DEPLOYMENT)
    bucket, key = split_s3_uri(plan["manifest_uri"])
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode(),
                  ContentType="application/json")
    logger.info("Run planned", run_id=plan["run_id"], source=plan["source"], inputs=manifest["inputs"])
    return plan


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=PrepareRunRequest)
def handler(event: PrepareRunRequest, context: LambdaContext) -> dict[str, Any]:
    return prepare_run(execution_input=event.input, execution_arn=event.execution_arn,
                       started_at=event.execution_started_at)
