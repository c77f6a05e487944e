"""Record metrics: a run's numbers as CloudWatch metrics (EMF) and a run summary JSON next to its outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel

from orchard_functions.aws_clients import emr_client, read_client
from orchard_functions.costs import LaunchedInstance, load_price_table
from orchard_functions.emr_timelines import (
    ClusterTimeline,
    cluster_timeline,
    described_instances,
    launched_instances,
    step_timeline,
)
from orchard_functions.plan_model import RunPlan
from orchard_functions.preflight import UNANSWERED, reason
from orchard_functions.run_summary import build_run_summary, metric_values
from orchard_functions.s3uri import split_s3_uri
from orchard_functions.spot_prices import spot_prices_at

logger = Logger()
tracer = Tracer()
metrics = Metrics()
emr = emr_client()  # standard retries: orchard_functions.aws_clients
s3 = boto3.client("s3")
ec2 = read_client("ec2")  # Spot prices, with bounded standard retries
REGION = emr.meta.region_name  # the cluster's region, which picks the price table


class ClusterRef(BaseModel):
    id: str


class Outputs(BaseModel):
    """`$.outputs` (Check outputs)."""

    images_read: int
    featurized: int
    reused: int
    failed: int
    pca_components: int
    explained_variance_total: float
    feature_seconds: float | None = None  # the job's feature stage
    weights: str | None = None
    weights_are_random: bool | None = None


class StateError(BaseModel):
    """`$.error`, as a Catch writes it."""

    Error: str
    Cause: str | None = None


class ExecutionState(BaseModel):
    """The execution state so far: a run that failed early lacks the later keys."""

    run: RunPlan | None = None
    cluster: ClusterRef | None = None
    outputs: Outputs | None = None
    error: StateError | None = None


class RecordMetricsInput(BaseModel):
    status: Literal["SUCCEEDED", "FAILED"]
    execution_arn: str
    execution_started_at: AwareDatetime
    state: ExecutionState


def launched_spot_prices(cluster: ClusterTimeline, launched: list[LaunchedInstance]) -> dict[str, float]:
    """The Spot price of each type the cluster launched on Spot, when its first Spot instance was launched; none (the
    cost then prices them on-demand, and says so) when EC2 does not answer or the zone is unknown."""
    spot = [instance for instance in launched if instance.market == "SPOT"]
    if not spot or cluster.zone is None:
        return {}
    try:
        return spot_prices_at(ec2, {instance.type for instance in spot}, cluster.zone,
                              min(instance.launched_at for instance in spot))
    except UNANSWERED as error:
        logger.warning("EC2 did not give the Spot prices: Spot instances are priced on-demand",
                       extra={"reason": reason(error)})
        return {}


@tracer.capture_method
def record_run(
    *, status: str, execution_arn: str, execution_started_at: datetime, state: ExecutionState
) -> dict[str, Any]:
    """Summarise the run from its state and EMR's timelines, emit its metrics, write the summary next to the outputs."""
    cluster_id = state.cluster.id if state.cluster else None
    now = datetime.now(UTC)
    cluster = cluster_timeline(emr, cluster_id) if cluster_id else None
    launched = launched_instances(list(described_instances(emr, cluster.id)), cluster, now) if cluster else []
    summary = build_run_summary(
        status=status,
        execution_arn=execution_arn,
        execution_started_at=execution_started_at,
        run=state.run.model_dump() if state.run else None,
        outputs=state.outputs.model_dump() if state.outputs else None,
        error=state.error.model_dump() if state.error else None,
        cluster=cluster,
        instances=launched,
        step=step_timeline(emr, cluster_id) if cluster_id else None,
        prices=load_price_table(REGION),
        spot_prices=launched_spot_prices(cluster, launched) if cluster else {},
        region=REGION,
        now=now,
    )
    for name, unit, value in metric_values(summary):
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.add_metadata(key="execution_arn", value=execution_arn)
    if state.run:
        metrics.add_metadata(key="run_id", value=state.run.run_id)
        bucket, key = split_s3_uri(state.run.summary_uri)
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(summary, indent=2), ContentType="application/json")
        logger.info("Run summary written", extra={"summary_uri": state.run.summary_uri})
    logger.info("Run recorded", extra={"status": status, "cost": summary["cost"]["estimated_usd"]})
    return summary


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=RecordMetricsInput)
def handler(event: RecordMetricsInput, context: LambdaContext) -> dict[str, Any]:
    return record_run(
        status=event.status,
        execution_arn=event.execution_arn,
        execution_started_at=event.execution_started_at,
        state=event.state,
    )
