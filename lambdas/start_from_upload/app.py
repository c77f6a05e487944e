"""Start from upload: a manifest landing in the inputs bucket (S3 Object Created, via EventBridge) starts a run."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from orchard_contract.run_names import execution_arn, execution_name, is_manifest_key
from orchard_functions.s3uri import s3_uri
from orchard_functions.settings import FunctionSettings


class Settings(FunctionSettings):
    """This function's environment, as template.yaml sets it."""

    state_machine_arn: str


logger = Logger()
tracer = Tracer()
stepfunctions = boto3.client("stepfunctions")


@tracer.capture_method
def start_pipeline(*, state_machine_arn: str, bucket: str, key: str, version_id: str | None,
                   etag: str) -> dict[str, Any]:
    """Start the execution named after this object version, once however often the event is delivered.

    StartExecution with the name and input of a running execution returns that execution; once it has
    ended, the same name raises ExecutionAlreadyExists: either way no second run starts.
    """
    manifest_uri = s3_uri(bucket, key)
    if not is_manifest_key(key):
        logger.info("Not a manifests/*.json object: ignored", extra={"object": manifest_uri})
        return {"outcome": "ignored", "object": manifest_uri}

    name = execution_name(bucket, key, version_id, etag)
    execution_input = {"manifest_uri": manifest_uri} | ({"version_id": version_id} if version_id else {})
    try:
        response = stepfunctions.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input)
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        arn = execution_arn(state_machine_arn, name)
        logger.info("Execution already exists for this upload: nothing started", extra={"execution_arn": arn})
        return {"outcome": "already exists", "execution_name": name, "execution_arn": arn}

    logger.info("Execution started", extra={"execution_arn": response["executionArn"], "input": execution_input})
    return {"outcome": "started", "execution_name": name, "execution_arn": response["executionArn"]}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=S3EventBridgeNotificationEvent)
def handler(event: S3EventBridgeNotificationEvent, context: LambdaContext) -> dict[str, Any]:
    uploaded = event.detail.object
    return start_pipeline(
        state_machine_arn=Settings.from_environ().state_machine_arn,
        bucket=event.detail.bucket.name,
        key=uploaded.key,  # URL-decoded by the data class
        version_id=uploaded.get("version-id"),  # absent when the bucket is not versioned
        etag=uploaded.etag,
    )
