"""A run's plan: its id, where its outputs go, the EMR cluster it needs and the Spark step it runs."""

from __future__ import annotations

import hashlib
import json
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
from orchard_functions.plan_model import ClusterRequest, InstanceGroup, RunPlan
from orchard_functions.s3uri import NotAnS3Uri, s3_uri, split_s3_uri
from orchard_functions.settings import DeploymentParameters

INLINE_SOURCE = "the execution input"


def run_id_for(name: str, execution_arn: str, started_at: datetime) -> str:
    """A readable id, unique per execution and stable across retries: name, start time, hash of the ARN."""
    digest = hashlib.sha256(execution_arn.encode()).hexdigest()[:8]
    return f"{name}-{started_at:%Y%m%dT%H%M%SZ}-{digest}"


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


def instance_groups(deployment: DeploymentParameters, overrides: dict[str, Any]) -> list[InstanceGroup]:
    """The primary and core groups, the manifest's allow-listed overrides applied to the deployment's."""
    return [
        InstanceGroup(role="primary", type=overrides.get("primary_instance_type", deployment.primary_instance_type),
                      count=1, market="ON_DEMAND"),
        InstanceGroup(role="core", type=overrides.get("core_instance_type", deployment.core_instance_type),
                      count=overrides.get("core_instance_count", deployment.core_instance_count),
                      market=overrides.get("core_market", deployment.core_market)),
    ]


def cluster_instances(groups: list[InstanceGroup], subnet_id: str) -> dict[str, Any]:
    """The `Instances` block of CreateCluster: kept alive between steps (the state machine ends it)."""
    instances: dict[str, Any] = {
        "InstanceGroups": [
            {"Name": group.role.capitalize(), "InstanceRole": "MASTER" if group.role == "primary" else "CORE",
             "InstanceType": group.type, "InstanceCount": group.count, "Market": group.market}
            for group in groups
        ],
        "KeepJobFlowAliveWhenNoSteps": True,
        "TerminationProtected": False,
    }
    if subnet_id:
        instances["Ec2SubnetId"] = subnet_id
    return instances


def plan_run(manifest: dict[str, Any], source: str | None, execution_arn: str, started_at: datetime,
             deployment: DeploymentParameters) -> RunPlan:
    """The run plan (`$.run` in the state machine) for a validated, resolved manifest."""
    name = manifest["name"]
    run_id = run_id_for(name, execution_arn, started_at)
    prefix = f"runs/{run_id}/"
    output_uri = s3_uri(deployment.outputs_bucket, prefix)
    manifest_uri = s3_uri(deployment.outputs_bucket, prefix + "manifest.json")
    groups = instance_groups(deployment, manifest.get("cluster", {}))
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
        instances=groups,
        cluster=ClusterRequest(
            Name=f"orchard-{run_id}",
            LogUri=log_uri,
            Instances=cluster_instances(groups, deployment.subnet_id),
            Configurations=spark_configurations(deployment.region),
            BootstrapActions=bootstrap_actions(deployment.artifacts_uri),
            IdleTimeoutSeconds=deployment.idle_timeout_minutes * 60,
        ),
        step=feature_step(deployment.artifacts_uri,
                          [manifest_uri, "--output", output_uri, "--model-store", deployment.model_store_uri]),
        step_timeout_seconds=deployment.max_run_minutes * 60,
    )
