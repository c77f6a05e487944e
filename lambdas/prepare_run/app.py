"""Prepare the run: validate the manifest, check its inputs, resolve it, plan the cluster and the Spark step.

Whatever the execution input or the manifest file holds, a run that cannot succeed, when that is cheap to know,
fails here with InvalidManifest naming each field and its problem, before any cluster exists; a cluster the account
can never run fails with InstanceTypeNotOffered (a type EC2 does not offer in the region, or no subnet whose zone
offers a type of each fleet), RunExceedsQuota (its vCPUs over an EC2 vCPU quota) or SpotRoleMissing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from orchard_functions.aws_clients import read_client
from orchard_functions.input_survey import check_inputs
from orchard_functions.manifest_source import manifest_source
from orchard_functions.preflight import check_capacity, offered_vcpus, usable_subnets
from orchard_functions.run_plan import INLINE_SOURCE, fleet_choice, plan_run, validated_manifest
from orchard_functions.s3uri import split_s3_uri
from orchard_functions.settings import DeploymentParameters

logger = Logger()
tracer = Tracer()
s3 = boto3.client("s3")
# The account's answers before any cluster (orchard_functions.preflight), with bounded standard retries.
service_quotas = read_client("service-quotas")
ec2 = read_client("ec2")
iam = read_client("iam")


class PrepareRunRequest(BaseModel):
    """What the state machine passes: the execution input (any JSON), its ARN and start time."""

    input: Any
    execution_arn: str
    execution_started_at: datetime


@tracer.capture_method
def prepare_run(*, execution_input: Any, execution_arn: str, started_at: datetime, deployment: DeploymentParameters,
                time_left_ms: Callable[[], int]) -> dict[str, Any]:
    """Validate and check the manifest, store the resolved copy next to the outputs, return the plan (`$.run`)."""
    source, document = manifest_source(s3=s3, execution_input=execution_input, inputs_bucket=deployment.inputs_bucket)
    manifest = validated_manifest(document, source)
    choice = fleet_choice(deployment, manifest.get("cluster", {}))
    vcpus = offered_vcpus(ec2, choice, deployment.region, source or INLINE_SOURCE)
    subnet_ids = usable_subnets(ec2, deployment.subnet_ids, choice, source or INLINE_SOURCE)
    plan = plan_run(manifest, source, execution_arn, started_at, deployment, vcpus, subnet_ids)
    check_capacity(service_quotas=service_quotas, iam=iam, fleets=plan.fleets, vcpus=vcpus,
                   region=deployment.region, source=plan.source)
    check_inputs(s3=s3, manifest=manifest, plan=plan, k_is_default="pca_components" not in document.get("job", {}),
                 inputs_bucket=deployment.inputs_bucket, time_left_ms=time_left_ms)
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
