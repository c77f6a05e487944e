"""The run plan, `$.run` in the state machine: made by Prepare run (`run_plan.plan_run`), read by the definition
itself (statemachine/pipeline.asl.json: `run_id`, `cluster.*`, `step`, `step_timeout_seconds`), by Check outputs and
by Record metrics, each through this one model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["primary", "core"]
Market = Literal["ON_DEMAND", "SPOT"]


class InstanceFleet(BaseModel):
    """One instance fleet of the cluster: the types EMR may launch, what each counts for, and how much it needs.

    Each type's weight is the units of capacity one of its instances provides (EMR's WeightedCapacity): 1 for the
    primary fleet's single instance, the type's vCPUs for the core fleet, whose capacity is counted in vCPUs."""

    role: Role
    weights: dict[str, int]  # instance type -> units of capacity, in the order EMR is given them
    capacity: int = Field(ge=1)  # the units to launch
    unit: Literal["instance", "vCPU"]
    market: Market


class ClusterRequest(BaseModel):
    """What "Create the EMR cluster" passes to EMR's RunJobFlow, each field by its own JSONPath."""

    Name: str
    LogUri: str
    Instances: dict[str, Any]
    Configurations: list[dict[str, Any]]
    BootstrapActions: list[dict[str, Any]]
    IdleTimeoutSeconds: int


class RunPlan(BaseModel):
    """A run's id, where its manifest, outputs, summary and logs go, its cluster and its Spark step."""

    run_id: str
    name: str
    source: str  # the manifest's URI, or "the execution input"
    manifest_uri: str  # the resolved manifest, next to the outputs
    output_uri: str = Field(pattern=r"^s3://[^/]+/")
    summary_uri: str
    log_uri: str
    pca_components: int = Field(ge=1)  # the manifest's, or the default written into the resolved manifest
    fleets: list[InstanceFleet]
    cluster: ClusterRequest
    step: dict[str, Any]  # EMR's AddJobFlowSteps step, passed whole by "Run the feature job"
    step_timeout_seconds: int
