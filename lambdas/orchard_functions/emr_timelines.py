"""A run's cluster, its instances and its step as EMR describes them: their states and times, for the run summary."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from orchard_functions.costs import LaunchedInstance

if TYPE_CHECKING:  # the stubs are a dev requirement, not in the layer
    from mypy_boto3_emr import EMRClient


@dataclass(frozen=True)
class ClusterTimeline:
    """An EMR cluster's state and life (DescribeCluster Status)."""

    id: str
    state: str
    created_at: datetime
    ready_at: datetime | None  # provisioned and bootstrapped: ready for the step
    ended_at: datetime | None
    zone: str | None  # the Availability Zone EMR chose among the subnets, once it has


@dataclass(frozen=True)
class StepTimeline:
    """An EMR step's state and run time (ListSteps Status)."""

    id: str
    state: str
    started_at: datetime | None
    ended_at: datetime | None


def cluster_timeline(emr: EMRClient, cluster_id: str) -> ClusterTimeline:
    """The cluster's state, its creation, ready ("The date and time when the cluster was ready to run steps": EMR API
    Reference, ClusterTimeline) and end times (None until they come), and its zone."""
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    status, timeline = cluster["Status"], cluster["Status"]["Timeline"]
    return ClusterTimeline(
        id=cluster_id,
        state=status["State"],
        created_at=timeline["CreationDateTime"],
        ready_at=timeline.get("ReadyDateTime"),
        ended_at=timeline.get("EndDateTime"),
        zone=cluster.get("Ec2InstanceAttributes", {}).get("Ec2AvailabilityZone"),
    )


# The cluster's fleets by InstanceFleetType, the filter ListInstances takes (botocore's EMR model, ListInstancesInput).
FLEET_ROLES: Final[dict[Literal["MASTER", "CORE"], str]] = {"MASTER": "primary", "CORE": "core"}


def described_instances(emr: EMRClient, cluster_id: str) -> Iterator[tuple[str, dict]]:
    """Every instance the cluster's fleets launched, with its fleet's role (ListInstances, all pages)."""
    for fleet_type, role in FLEET_ROLES.items():
        pages = emr.get_paginator("list_instances").paginate(ClusterId=cluster_id, InstanceFleetType=fleet_type)
        for page in pages:
            for instance in page["Instances"]:
                yield role, dict(instance)


def launched_instances(described: list[tuple[str, dict]], cluster: ClusterTimeline,
                       now: datetime) -> list[LaunchedInstance]:
    """The instances EMR launched and how long each lived: from its creation to its end, else the cluster's end, else
    `now` (ListInstances' InstanceTimeline; an instance not yet created has cost nothing)."""
    launched = []
    for role, instance in described:
        timeline = instance.get("Status", {}).get("Timeline", {})
        if "CreationDateTime" not in timeline:
            continue
        end = timeline.get("EndDateTime") or cluster.ended_at or now
        launched.append(LaunchedInstance(role=role, type=instance["InstanceType"], market=instance["Market"],
                                         launched_at=timeline["CreationDateTime"],
                                         seconds=max(0.0, (end - timeline["CreationDateTime"]).total_seconds())))
    return launched


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
