"""Watch clusters: every few minutes, count the workflow's clusters older than the maximum run time.

The count is a metric (OverdueClusters) with an alarm on it: a cluster the workflow should have ended
by now, whatever the reason, reaches a person instead of running up a bill.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from orchard_functions.aws_clients import emr_client
from orchard_functions.clusters import active_clusters, execution_of, overdue_clusters
from orchard_functions.settings import FunctionSettings


class Settings(FunctionSettings):
    """This function's environment, as template.yaml sets it."""

    max_run_minutes: int


logger = Logger()
tracer = Tracer()
metrics = Metrics()
emr = emr_client()  # standard retries: orchard_functions.aws_clients


@tracer.capture_method
def watch_clusters(*, now: datetime, max_age: timedelta) -> dict[str, Any]:
    """Count the workflow's active clusters and those older than the maximum run time."""
    ours = [cluster for cluster in active_clusters(emr) if execution_of(cluster) is not None]
    overdue = overdue_clusters(ours, now, max_age)
    metrics.add_metric(name="ActiveClusters", unit=MetricUnit.Count, value=len(ours))
    metrics.add_metric(name="OverdueClusters", unit=MetricUnit.Count, value=len(overdue))
    if overdue:
        logger.warning("Clusters older than the maximum run time", extra={"cluster_ids": overdue,
                                                                           "max_minutes": max_age.total_seconds() / 60})
    return {"active": [cluster["Id"] for cluster in ours], "overdue": overdue}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return watch_clusters(now=datetime.now(UTC), max_age=timedelta(minutes=Settings.from_environ().max_run_minutes))
