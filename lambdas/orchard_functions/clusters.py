"""Which EMR clusters belong to a workflow execution: the tag the state machine puts on each cluster."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

EXECUTION_TAG = "orchard:execution-arn"
ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")


def execution_of(cluster: Mapping[str, Any]) -> str | None:
    """The execution ARN a cluster (a DescribeCluster `Cluster`) is tagged with, if any."""
    return next((tag["Value"] for tag in cluster.get("Tags", []) if tag["Key"] == EXECUTION_TAG), None)


def clusters_of_execution(descriptions: Iterable[Mapping[str, Any]], execution_arn: str) -> list[str]:
    """Ids of the active clusters among `descriptions` (DescribeCluster `Cluster`s) tagged with `execution_arn`."""
    return [
        cluster["Id"]
        for cluster in descriptions
        if cluster["Status"]["State"] in ACTIVE_STATES and execution_of(cluster) == execution_arn
    ]


def active_clusters(emr: Any) -> list[dict[str, Any]]:
    """DescribeCluster `Cluster` of every active cluster in the account and region (`emr`: a boto3 EMR client)."""
    return [
        emr.describe_cluster(ClusterId=summary["Id"])["Cluster"]
        for page in emr.get_paginator("list_clusters").paginate(ClusterStates=list(ACTIVE_STATES))
        for summary in page["Clusters"]
    ]


def overdue_clusters(descriptions: Iterable[Mapping[str, Any]], now: datetime, max_age: timedelta) -> list[str]:
    """Ids of the active clusters started by a workflow execution that are older than `max_age`."""
    return [
        cluster["Id"]
        for cluster in descriptions
        if cluster["Status"]["State"] in ACTIVE_STATES and execution_of(cluster) is not None
        and now - cluster["Status"]["Timeline"]["CreationDateTime"] > max_age
    ]
