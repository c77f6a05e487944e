"""The deployment the Lambda tests stand in for: names, and the environment template.yaml gives the functions."""

from __future__ import annotations

import os
from typing import Final

from orchard_contract.emr_step import STEP_NAME
from orchard_functions.plan_model import ClusterRequest, InstanceFleet, RunPlan
from orchard_functions.run_plan import cluster_instances

REGION: Final = "eu-west-1"  # Final: its literal type is an S3 LocationConstraint
ACCOUNT = "123456789012"
INPUTS_BUCKET = "orchard-inputs-local"
OUTPUTS_BUCKET = "orchard-outputs-local"
ARTIFACTS_BUCKET = "orchard-artifacts-local"
LOGS_BUCKET = "orchard-logs-local"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:orchard-pipeline"
SLOTS_TABLE = "orchard-slots-local"

# What template.yaml sets for the functions (tests/test_contract.py checks that each variable a
# function reads is set there). The handlers read it when invoked (orchard_functions.settings).
LAMBDA_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": "orchard",
    "POWERTOOLS_METRICS_NAMESPACE": "Orchard",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "INPUTS_BUCKET": INPUTS_BUCKET,
    "OUTPUTS_BUCKET": OUTPUTS_BUCKET,
    "LOGS_BUCKET": LOGS_BUCKET,
    "ARTIFACTS_URI": f"s3://{ARTIFACTS_BUCKET}/code/0123456789abcdef/",
    "MODEL_STORE_URI": f"s3://{ARTIFACTS_BUCKET}/models/",
    "FEATURE_STORE_URI": f"s3://{OUTPUTS_BUCKET}/feature-store/",
    "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
    "PRIMARY_INSTANCE_TYPES": "m5.xlarge,m6i.xlarge",
    "CORE_INSTANCE_TYPES": "c6i.2xlarge,c5.2xlarge,c7i.2xlarge",
    "CORE_VCPUS": "16",
    "CORE_MARKET": "ON_DEMAND",
    "IDLE_TIMEOUT_MINUTES": "15",
    "MAX_RUN_MINUTES": "180",
    "SLOTS_TABLE": SLOTS_TABLE,
}
os.environ.update(LAMBDA_ENVIRONMENT)


def example_run(run_id: str, pca_components: int,
                core_types: dict[str, int] | None = None) -> dict:
    """A run plan (`$.run`) as Prepare run makes it for the MINI manifest, 16 vCPUs of core nodes on Spot, of
    `core_types` (instance type -> vCPUs; c6i.2xlarge and c5.2xlarge by default); its EMR requests cut short (no
    configuration, bootstrap action or step arguments)."""
    output_uri = f"s3://{OUTPUTS_BUCKET}/runs/{run_id}/"
    log_uri = f"s3://{LOGS_BUCKET}/emr/{run_id}/"
    fleets = [InstanceFleet(role="primary", weights={"m5.xlarge": 1}, capacity=1, unit="instance", market="ON_DEMAND"),
              InstanceFleet(role="core", weights=core_types or {"c6i.2xlarge": 8, "c5.2xlarge": 8}, capacity=16,
                            unit="vCPU", market="SPOT")]
    return RunPlan(
        run_id=run_id,
        name="mini",
        source=f"s3://{INPUTS_BUCKET}/manifests/mini.json",
        manifest_uri=f"{output_uri}manifest.json",
        output_uri=output_uri,
        summary_uri=f"{output_uri}run_summary.json",
        log_uri=log_uri,
        pca_components=pca_components,
        fleets=fleets,
        cluster=ClusterRequest(Name=f"orchard-{run_id}", LogUri=log_uri, Instances=cluster_instances(fleets, ()),
                               Configurations=[], BootstrapActions=[], IdleTimeoutSeconds=900),
        step={"Name": STEP_NAME},
        step_timeout_seconds=10800,
    ).model_dump(mode="json")
