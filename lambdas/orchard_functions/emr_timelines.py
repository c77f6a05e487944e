"""A run's cluster and step as EMR describes them: their states and times, for the run summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the stubs are a dev requirement, not in the layer
    from mypy_boto3_emr import EMRClient


@dataclass(frozen=True)
class ClusterTimeline:
    """An EMR cluster's state and life (DescribeCluster Status)."""

    id: str
    state: str
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class StepTimeline:
    """An EMR step's state and run time (ListSteps Status)."""

    id: str
    state: str
    started_at: datetime | None
    ended_at: datetime | None


def cluster_timeline(emr: EMRClient, cluster_id: str) -> ClusterTimeline:
    """The cluster's state, creation and end times (end None while it runs)."""
    status = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
    timeline = status["Timeline"]
    return ClusterTimeline(
        id=cluster_id,
        state=status["State"],
        created_at=timeline["CreationDateTime"],
        ended_at=timeline.get("EndDateTime"),
    )


def step_timeline(emr: EMRClient, cluster_id: str) -> StepTimeline | None:
    """The cluster's step (the run adds one: the first added if there are more), or None if it has none."""
    steps = emr.list_steps(ClusterId=cluster_id)["Steps"]
    if not steps:
        return None
    step = min(steps, key=lambda s: s["Status"]["Timeline"]["CreationDateTime"])
    timeline = step["Status"]["Timeline"]
    return StepTimeline(
        id=step["Id"],
        state=step["Status"]["State"],
        started_at=timeline.get("StartDateTime"),
        ended_at=timeline.get("EndDateTime"),
    )
