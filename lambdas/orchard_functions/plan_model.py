"""The run plan, `$.run` in the state machine: made by Prepare run (`run_plan.plan_run`), read by the definition
itself (statemachine/pipeline.asl.json: `run_id`, `cluster.*`, `step`, `step_timeout_seconds`), by Check outputs and
by Record metrics, each through this one model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class InstanceGroup(BaseModel):
    """One group of the cluster's instances, as the run's cost is worked out from it."""

    role: str  # primary or core
    type: str  # the EC2 instance type
    count: int = Field(ge=0)
    market: Literal["ON_DEMAND", "SPOT"]


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
    instances: list[InstanceGroup]
    cluster: ClusterRequest
    step: dict[str, Any]  # EMR's AddJobFlowSteps step, passed whole by "Run the feature job"
    step_timeout_seconds: int
