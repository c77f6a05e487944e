"""Clean up: the backstop for what Catch cannot handle. When an execution ends, however it ended, terminate every
active EMR cluster still tagged with it, then release its cluster slot: neither outlives its execution."""

from __future__ import annotations

from typing import Any, Literal

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from orchard_functions.aws_clients import emr_client
from orchard_functions.clusters import active_clusters, clusters_of_execution
from orchard_functions.settings import FunctionSettings
from orchard_functions.slots import release_slot


class Settings(FunctionSettings):
    """This function's environment, as template.yaml sets it."""

    slots_table: str


logger = Logger()
tracer = Tracer()
emr = emr_client()  # standard retries: orchard_functions.aws_clients
dynamodb = boto3.client("dynamodb")


class ExecutionStatusChange(BaseModel):
    """The `detail` of a "Step Functions Execution Status Change" event (the fields used here)."""

    executionArn: str
    stateMachineArn: str
    status: Literal["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"]  # never act on a RUNNING execution's clusters


class ExecutionEnded(BaseModel):
    """The EventBridge event, or the same `detail` sent by the state machine when cluster creation fails."""

    detail: ExecutionStatusChange


@tracer.capture_method
def terminate_clusters_of(*, execution_arn: str) -> list[str]:
    """Terminate the active clusters tagged `orchard:execution-arn` = `execution_arn`; their ids."""
    descriptions = active_clusters(emr)
    cluster_ids = clusters_of_execution(descriptions, execution_arn)
    if cluster_ids:
        emr.terminate_job_flows(JobFlowIds=cluster_ids)
    logger.info(
        "Clusters of the execution terminated" if cluster_ids else "No active cluster of the execution",
        extra={"cluster_ids": cluster_ids, "active_clusters": len(descriptions)},
    )
    return cluster_ids


@tracer.capture_method
def release_slot_of(*, execution_arn: str, table: str) -> bool:
    """Release the cluster slot the execution still holds, if any (an aborted or timed-out execution's); whether it
    held one."""
    released = release_slot(dynamodb, table, execution_arn)
    logger.info("Cluster slot of the execution released" if released else "The execution holds no cluster slot")
    return released


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=ExecutionEnded)
def handler(event: ExecutionEnded, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(execution_arn=event.detail.executionArn, status=event.detail.status)
    terminated = terminate_clusters_of(execution_arn=event.detail.executionArn)
    # after the termination: a slot stands for a cluster, so it is given back only once its cluster is going
    released = release_slot_of(execution_arn=event.detail.executionArn, table=Settings.from_environ().slots_table)
    return {"terminated": terminated, "slot_released": released}
