"""Prepare the run: validate the manifest, check its inputs, resolve it, plan the cluster and the Spark step.

Whatever the execution input or the manifest file holds, a run that cannot succeed, when that is cheap to know,
fails here with InvalidManifest naming each field and its problem, before any cluster exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from orchard_contract.manifest import InvalidManifest, job_setting_default, parse_manifest
from orchard_functions.documents import json_type, text_problems
from orchard_functions.input_survey import survey_inputs, survey_problems
from orchard_functions.run_plan import (
    INLINE_SOURCE,
    bucket_problems,
    plan_run,
    validated_manifest,
)
from orchard_functions.s3uri import NotAnS3Uri, split_s3_uri
from orchard_functions.settings import DeploymentParameters

if TYPE_CHECKING:  # the stubs are a dev requirement, not in the layer
    from mypy_boto3_s3.type_defs import GetObjectRequestTypeDef

logger = Logger()
tracer = Tracer()
s3 = boto3.client("s3")

MANIFEST_REFERENCE_KEYS = {"manifest_uri", "version_id"}
MAX_MANIFEST_BYTES = 1024 * 1024  # a manifest is a few hundred bytes; more is not one
# S3's answers for a key that is not there (404 NoSuchKey, given s3:ListBucket on the bucket: without it, 403
# AccessDenied), a version that is not there (404 NoSuchVersion) or a malformed version id (400 InvalidArgument,
# "Invalid version id specified"): "Amazon S3 API Reference: GetObject", Permissions and Errors,
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, and "Error responses",
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html. Any other 404 is taken as missing too.
MISSING = {"NoSuchKey", "NoSuchVersion", "InvalidArgument"}
LISTING_RESERVE_MS = 10_000  # the inputs are listed no later than this before the function's timeout


class PrepareRunRequest(BaseModel):
    """What the state machine passes: the execution input (any JSON), its ARN and start time."""

    input: Any
    execution_arn: str
    execution_started_at: datetime


def manifest_reference(execution_input: dict[str, Any]) -> tuple[str, str | None]:
    """(manifest URI, version id) of an execution input that names a manifest in S3."""
    problems = [f"$.{key}: not allowed next to manifest_uri (allowed: manifest_uri, version_id)"
                for key in sorted(set(execution_input) - MANIFEST_REFERENCE_KEYS)]
    uri, version_id = execution_input["manifest_uri"], execution_input.get("version_id")
    if not isinstance(uri, str):
        problems.append(f"$.manifest_uri: {json_type(uri)}, expected an s3:// URI string")
    if version_id is not None and not isinstance(version_id, str):
        problems.append(f"$.version_id: {json_type(version_id)}, expected a version id string")
    elif version_id == "":
        problems.append("$.version_id: empty; give the manifest's version id, or leave it out for the latest")
    if problems:
        raise InvalidManifest.listing(INLINE_SOURCE, problems)
    return uri, version_id


def read_manifest(uri: str, version_id: str | None, inputs_bucket: str) -> Any:
    """The manifest document stored at `uri` (that version, when given) in the inputs bucket, parsed."""
    try:
        bucket, key = split_s3_uri(uri)
    except NotAnS3Uri:
        raise InvalidManifest(f"$.manifest_uri: {uri!r} is not an s3:// URI") from None
    if bucket != inputs_bucket or not key:
        raise InvalidManifest(f"$.manifest_uri: {uri} is not an object of the inputs bucket "
                              f"{inputs_bucket!r}")
    request: GetObjectRequestTypeDef = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    try:
        response = s3.get_object(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] in MISSING or error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            version = f" (version {version_id})" if version_id else ""
            raise InvalidManifest(f"{uri}: no such manifest{version}") from None
        raise
    if response["ContentLength"] > MAX_MANIFEST_BYTES:
        raise InvalidManifest(f"{uri}: {response['ContentLength']} bytes, more than a manifest's {MAX_MANIFEST_BYTES}")
    body = response["Body"].read()
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidManifest(f"{uri}: not valid JSON: {reason}") from None
    if problems := text_problems(document):
        raise InvalidManifest.listing(uri, problems)
    return document


def manifest_source(execution_input: Any, inputs_bucket: str) -> tuple[str | None, Any]:
    """(where the manifest comes from, the document): the input itself, or the manifest it names."""
    if not isinstance(execution_input, dict):
        raise InvalidManifest(f"{INLINE_SOURCE} is {json_type(execution_input)}; expected a JSON object: "
                              'a manifest, or {"manifest_uri": "s3://..."}')
    if problems := text_problems(execution_input):
        raise InvalidManifest.listing(INLINE_SOURCE, problems)
    if "manifest_uri" not in execution_input:
        return None, execution_input
    uri, version_id = manifest_reference(execution_input)
    return uri, read_manifest(uri, version_id, inputs_bucket)


def check_inputs(manifest: dict[str, Any], location: str, inputs_bucket: str, time_left_ms: Callable[[], int]) -> None:
    """Raise InvalidManifest when the inputs are unreadable by the cluster, empty, or cannot give the run enough
    images; list them only as far as needed, and only while the function has time to spare."""
    problems = bucket_problems(manifest["inputs"], inputs_bucket)
    if problems:
        raise InvalidManifest.listing(location, problems)
    selection = parse_manifest(json.dumps(manifest), location).selection
    needed = manifest["job"].get("pca_components", job_setting_default("pca_components"))
    needed_field = "$.job.pca_components" + ("" if "pca_components" in manifest["job"] else " (the default)")
    survey = survey_inputs(s3, manifest["inputs"], selection, needed,
                           out_of_time=lambda: time_left_ms() < LISTING_RESERVE_MS)
    logger.info("Inputs listed", extra={"pages": survey.pages, "complete": survey.complete,
                                        "images_kept_so_far": survey.tally.yield_count()})
    if survey.cut:
        logger.warning("Listing stopped by its page budget or the clock before the verdict was known: "
                       "the job's own checks apply")
    problems = survey_problems(survey, needed, needed_field)
    if problems:
        raise InvalidManifest.listing(location, problems)


@tracer.capture_method
def prepare_run(*, execution_input: Any, execution_arn: str, started_at: datetime, deployment: DeploymentParameters,
                time_left_ms: Callable[[], int]) -> dict[str, Any]:
    """Validate and check the manifest, store the resolved copy next to the outputs, return the plan (`$.run`)."""
    source, document = manifest_source(execution_input, deployment.inputs_bucket)
    try:
        manifest = validated_manifest(document, source)
    except RecursionError:
        raise InvalidManifest(f"{source or INLINE_SOURCE}: invalid manifest: nested too deeply") from None
    check_inputs(manifest, source or INLINE_SOURCE, deployment.inputs_bucket, time_left_ms)
    plan = plan_run(manifest, source, execution_arn, started_at, deployment)
    bucket, key = split_s3_uri(plan.manifest_uri)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode(),
                  ContentType="application/json")
    logger.info("Run planned", run_id=plan.run_id, source=plan.source, inputs=manifest["inputs"])
    return plan.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=PrepareRunRequest)
def handler(event: PrepareRunRequest, context: LambdaContext) -> dict[str, Any]:
    return prepare_run(execution_input=event.input, execution_arn=event.execution_arn,
                       started_at=event.execution_started_at, deployment=DeploymentParameters.from_environ(),
                       time_left_ms=context.get_remaining_time_in_millis)
