"""A run's plan: its id, where its outputs go, the EMR cluster it needs and the Spark step it runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchard_contract.emr_step import bootstrap_actions, feature_step, spark_configurations
from orchard_contract.manifest import (
    InvalidManifest,
    job_setting_schemas,
    parse_manifest,
    run_name_for,
    schema_problems,
)
from orchard_contract.paths import has_scheme, resolve_relative
from orchard_contract.run_names import run_id_for
from orchard_functions.plan_model import ClusterRequest, InstanceFleet, Market, RunPlan
from orchard_functions.s3uri import NotAnS3Uri, s3_uri, split_s3_uri
from orchard_functions.settings import DeploymentParameters

INLINE_SOURCE = "the execution input"


def input_problems(inputs: list[str], source: str | None) -> list[str]:
    """Why inputs cannot be read by EMR: each must be, or resolve to, an s3:// URI."""
    problems = []
    for index, entry in enumerate(inputs):
        if source is None and not has_scheme(entry):
            problems.append(f"$.inputs[{index}]: {entry!r} is relative; a manifest given inline needs s3:// inputs")
        elif not is_s3_uri(resolve_relative(source or "", entry)):
            problems.append(f"$.inputs[{index}]: {entry!r} is not an s3:// URI; EMR reads the images from S3")
    return problems


def is_s3_uri(location: str) -> bool:
    try:
        split_s3_uri(location)
    except NotAnS3Uri:
        return False
    return True


def validated_manifest(document: Any, source: str | None) -> dict[str, Any]:
    """The manifest the job reads, or InvalidManifest: its inputs resolved to s3:// URIs, the run's name, the
    defaults of its selection and of its job settings written out (resolved here, once: the plan, the checks and
    the job read them)."""
    location = source or INLINE_SOURCE
    try:
        problems = schema_problems(document)
    except RecursionError:
        raise InvalidManifest(f"{location}: invalid manifest: nested too deeply") from None
    if not problems:
        problems = input_problems(document["inputs"], source)
    if problems:
        raise InvalidManifest.listing(location, problems)
    manifest = parse_manifest(json.dumps(document), location)
    selection = manifest.selection
    select: dict[str, int | list[str]] = {"seed": selection.seed}
    if selection.classes:
        select["classes"] = list(selection.classes)
    if selection.max_per_class is not None:
        select["max_per_class"] = selection.max_per_class
    if selection.max_images is not None:
        select["max_images"] = selection.max_images
    job = {name: schema["default"] for name, schema in job_setting_schemas().items() if "default" in schema}
    resolved = {"manifest_version": 1, "name": run_name_for(manifest.name, source),
                "inputs": list(manifest.inputs), "select": select, "job": job | manifest.job}
    if "cluster" in document:
        resolved["cluster"] = document["cluster"]
    return resolved


# How EMR fills each fleet (EMR API Reference, OnDemandProvisioningSpecification and SpotProvisioningSpecification).
# An allocation strategy on every fleet: EMR recommends one "for faster cluster provisioning, more accurate Spot
# Instance allocation, and fewer Spot Instance interruptions", and it lets a fleet list up to 30 instance types instead
# of 5 (EMR Management Guide, "Planning and configuring instance fleets"; the manifest schema's maxItems). On-Demand:
# "lowest-price", the cheapest types first (EMR's default). Spot: "price-capacity-optimized", the pools with the most
# capacity, then the cheapest of them, which EC2 marks "(recommended)" (EC2 API Reference, SpotOptions). Spot capacity
# not found within SPOT_TIMEOUT_MINUTES (5 to 1440) is launched On-Demand: SWITCH_TO_ON_DEMAND "specifies that if no
# Spot Instances are available, On-Demand Instances should be provisioned to fulfill any remaining Spot capacity"
# (EMR API Reference, SpotProvisioningSpecification), instead of failing the run.
ON_DEMAND_STRATEGY = "lowest-price"
SPOT_STRATEGY = "price-capacity-optimized"
SPOT_TIMEOUT_MINUTES = 10
SPOT_TIMEOUT_ACTION = "SWITCH_TO_ON_DEMAND"
EMR_ROLES = {"primary": "MASTER", "core": "CORE"}


@dataclass(frozen=True)
class FleetChoice:
    """The instance types, core capacity and market a run asks for, and where each list of types came from."""

    primary_types: tuple[str, ...]
    core_types: tuple[str, ...]
    core_vcpus: int
    core_market: Market
    origins: dict[str, str]  # instance type -> the parameter or manifest field that named it

    @property
    def instance_types(self) -> list[str]:
        """Every type the run may launch, each once, in the order given."""
        return list(dict.fromkeys(self.primary_types + self.core_types))


def fleet_choice(deployment: DeploymentParameters, overrides: Mapping[str, Any]) -> FleetChoice:
    """The deployment's fleets with the manifest's allow-listed `cluster` overrides applied."""
    primary = tuple(overrides.get("primary_instance_types", deployment.primary_instance_types))
    core = tuple(overrides.get("core_instance_types", deployment.core_instance_types))
    origins = {instance_type: ("$.cluster.core_instance_types" if "core_instance_types" in overrides
                               else "the CoreInstanceTypes parameter") for instance_type in core}
    origins |= {instance_type: ("$.cluster.primary_instance_types" if "primary_instance_types" in overrides
                                else "the PrimaryInstanceTypes parameter") for instance_type in primary}
    return FleetChoice(primary_types=primary, core_types=core,
                       core_vcpus=overrides.get("core_vcpus", deployment.core_vcpus),
                       core_market=overrides.get("core_market", deployment.core_market), origins=origins)


def instance_fleets(choice: FleetChoice, vcpus: Mapping[str, int]) -> list[InstanceFleet]:
    """The primary fleet (one instance, On-Demand) and the core fleet (its vCPUs, each type weighted by its own)."""
    return [
        InstanceFleet(role="primary", weights=dict.fromkeys(choice.primary_types, 1), capacity=1, unit="instance",
                      market="ON_DEMAND"),
        InstanceFleet(role="core", weights={instance_type: vcpus[instance_type] for instance_type in choice.core_types},
                      capacity=choice.core_vcpus, unit="vCPU", market=choice.core_market),
    ]


def fleet_request(fleet: InstanceFleet) -> dict[str, Any]:
    """One InstanceFleetConfig of RunJobFlow: its types with their weights, its target in its market, how EMR fills
    it."""
    specifications: dict[str, Any] = {"OnDemandSpecification": {"AllocationStrategy": ON_DEMAND_STRATEGY}}
    if fleet.market == "SPOT":
        specifications["SpotSpecification"] = {"AllocationStrategy": SPOT_STRATEGY,
                                               "TimeoutDurationMinutes": SPOT_TIMEOUT_MINUTES,
                                               "TimeoutAction": SPOT_TIMEOUT_ACTION}
    # One target, in the fleet's market: "For a master instance fleet, only one of TargetSpotCapacity and
    # TargetOnDemandCapacity can be specified, and its value must be 1" (EMR API Reference, InstanceFleetConfig).
    target = "TargetSpotCapacity" if fleet.market == "SPOT" else "TargetOnDemandCapacity"
    return {
        "Name": fleet.role.capitalize(),
        "InstanceFleetType": EMR_ROLES[fleet.role],
        target: fleet.capacity,
        "InstanceTypeConfigs": [{"InstanceType": instance_type, "WeightedCapacity": weight}
                                for instance_type, weight in fleet.weights.items()],
        "LaunchSpecifications": specifications,
    }


def cluster_instances(fleets: list[InstanceFleet], subnet_ids: Sequence[str]) -> dict[str, Any]:
    """The `Instances` block of CreateCluster: instance fleets, in whichever of the subnets EMR finds the capacity
    ("Amazon EMR chooses the Amazon EC2 subnet with the best fit from among the list of RequestedEc2SubnetIds, and
    then launches all cluster instances within that Subnet": EMR API Reference, Ec2InstanceAttributes); kept alive
    between steps (the state machine ends it)."""
    instances: dict[str, Any] = {
        "InstanceFleets": [fleet_request(fleet) for fleet in fleets],
        "KeepJobFlowAliveWhenNoSteps": True,
        "TerminationProtected": False,
    }
    if subnet_ids:
        instances["Ec2SubnetIds"] = list(subnet_ids)
    return instances


def plan_run(manifest: dict[str, Any], source: str | None, execution_arn: str, started_at: datetime,
             deployment: DeploymentParameters, vcpus: Mapping[str, int], subnet_ids: Sequence[str]) -> RunPlan:
    """The run plan (`$.run` in the state machine) for a validated, resolved manifest; `vcpus` gives each of the
    run's instance types (`FleetChoice.instance_types`) its vCPUs, `subnet_ids` are those EMR may launch it in."""
    name = manifest["name"]
    run_id = run_id_for(name, execution_arn, started_at)
    prefix = f"runs/{run_id}/"
    output_uri = s3_uri(deployment.outputs_bucket, prefix)
    manifest_uri = s3_uri(deployment.outputs_bucket, prefix + "manifest.json")
    fleets = instance_fleets(fleet_choice(deployment, manifest.get("cluster", {})), vcpus)
    log_uri = s3_uri(deployment.logs_bucket, f"emr/{run_id}/")
    return RunPlan(
        run_id=run_id,
        name=name,
        source=source or INLINE_SOURCE,
        manifest_uri=manifest_uri,
        output_uri=output_uri,
        summary_uri=s3_uri(deployment.outputs_bucket, prefix + "run_summary.json"),
        log_uri=log_uri,
        pca_components=manifest["job"]["pca_components"],
        fleets=fleets,
        cluster=ClusterRequest(
            Name=f"orchard-{run_id}",
            LogUri=log_uri,
            Instances=cluster_instances(fleets, subnet_ids),
            Configurations=spark_configurations(deployment.region),
            BootstrapActions=bootstrap_actions(deployment.artifacts_uri),
            IdleTimeoutSeconds=deployment.idle_timeout_minutes * 60,
        ),
        step=feature_step(deployment.artifacts_uri,
                          [manifest_uri, "--output", output_uri, "--model-store", deployment.model_store_uri,
                           "--feature-store", deployment.feature_store_uri]),
        step_timeout_seconds=deployment.max_run_minutes * 60,
    )
