"""EMR's instance fleets, played over moto's EMR backend.

moto 5.2.5 takes a RunJobFlow whose `Instances` has `InstanceFleets` and launches nothing for it (it makes instances
for instance groups only: `moto/emr/models.py`, "Moto does not create instances when InstanceGroups is not
provided"), has no ListInstanceFleets, and its ListInstances ignores the `InstanceFleetType` filter. Here:

- `launch_fleets` plays what EMR does when a cluster starts: for each fleet, the instance type it chose (the test
  chooses: `FleetLaunch`), as many instances as reach the fleet's target capacity by that type's WeightedCapacity
  ("the number of units that a provisioned instance of this type provides toward the fleet's target capacity":
  botocore's EMR model, `InstanceTypeConfig.WeightedCapacity`), each with its fleet's id, role and market;
- `end_instances` gives each instance its EndDateTime when the cluster ends, as ListInstances reports it;
- `instance_fleet_filter` makes ListInstances keep only the instances of the fleet type asked for.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from moto.core.responses import ActionResult, PaginatedResult
from moto.emr.models import EXAMPLE_AMI_ID, Instance, InstanceGroup, emr_backends
from moto.emr.responses import ElasticMapReduceResponse
from moto.emr.utils import random_instance_group_id


@dataclass(frozen=True)
class FleetLaunch:
    """What EMR launched for one fleet: one of its instance types, in a market."""

    instance_type: str
    market: str


FleetChooser = Callable[[dict[str, Any]], FleetLaunch]  # an InstanceFleetConfig -> what EMR launched for it


def first_listed(fleet: dict[str, Any]) -> FleetLaunch:
    """The fleet's first instance type, in the market of its target (Spot capacity found)."""
    market = "SPOT" if fleet.get("TargetSpotCapacity", 0) else "ON_DEMAND"
    return FleetLaunch(fleet["InstanceTypeConfigs"][0]["InstanceType"], market)


def instances_for(fleet: dict[str, Any], instance_type: str) -> int:
    """How many instances of `instance_type` reach the fleet's target capacity."""
    (config,) = [entry for entry in fleet["InstanceTypeConfigs"] if entry["InstanceType"] == instance_type]
    target = fleet.get("TargetOnDemandCapacity", 0) + fleet.get("TargetSpotCapacity", 0)
    return math.ceil(target / config.get("WeightedCapacity", 1))


def launch_fleets(account: str, region: str, cluster_id: str, fleets: list[dict[str, Any]],
                  choose: FleetChooser) -> None:
    """The instances EMR launches for the cluster's fleets, as `choose` decides, in moto's EMR backend."""
    backend = emr_backends[account][region]
    cluster = backend.clusters[cluster_id]
    for fleet in fleets:
        launch = choose(fleet)
        count = instances_for(fleet, launch.instance_type)
        # moto keeps an instance's role, market and timeline on an instance group: one per fleet, not listed as the
        # cluster's groups (a fleet cluster has none)
        group = InstanceGroup(  # type: ignore[abstract]  # moto's CloudFormation hooks, unused here, as moto does
            cluster_id=cluster_id, instance_count=count, instance_role=fleet["InstanceFleetType"],
            instance_type=launch.instance_type, market=launch.market, name=fleet.get("Name"))
        fleet_id = "if-" + random_instance_group_id().removeprefix("ig-")
        reservation = backend.ec2_backend.run_instances(EXAMPLE_AMI_ID, count, None, [],
                                                        instance_type=launch.instance_type,
                                                        is_instance_type_default=False)
        for ec2_instance in reservation.instances:
            cluster.add_instance(Instance(ec2_instance=ec2_instance, instance_group=group,
                                          instance_fleet_id=fleet_id))


def end_instances(account: str, region: str, cluster_id: str) -> None:
    """Every instance of the cluster ended now, as EMR records it when the cluster terminates."""
    for instance in emr_backends[account][region].clusters[cluster_id].ec2_instances:
        group = instance.instance_group
        if group.end_date_time is None:
            group.end_date_time, group.state = datetime.now(UTC), "TERMINATED"


@contextlib.contextmanager
def instance_fleet_filter() -> Iterator[None]:
    """ListInstances honours InstanceFleetType (MASTER, CORE, TASK), for the block."""
    original = ElasticMapReduceResponse.list_instances

    def list_instances(response: ElasticMapReduceResponse) -> ActionResult:
        fleet_type = response._get_param("InstanceFleetType")
        if fleet_type is None:
            return original(response)
        instances = response.backend.list_instances(response._get_param("ClusterId"),
                                                    instance_group_types=[fleet_type])
        return PaginatedResult({"Instances": instances})

    with mock.patch.object(ElasticMapReduceResponse, "list_instances", list_instances):
        yield
