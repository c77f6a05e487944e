"""The deployment the Lambda tests stand in for: names, and the environment template.yaml gives the functions."""

from __future__ import annotations

import os

REGION = "eu-west-1"
ACCOUNT = "123456789012"
INPUTS_BUCKET = "orchard-inputs-local"
OUTPUTS_BUCKET = "orchard-outputs-local"
ARTIFACTS_BUCKET = "orchard-artifacts-local"
LOGS_BUCKET = "orchard-logs-local"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:orchard-pipeline"

# What template.yaml sets for the functions (tests/test_contract.py checks that each variable a
# function reads is set there). Set before any handler module is imported: they read it once.
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
    "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
    "PRIMARY_INSTANCE_TYPE": "m5.xlarge",
    "CORE_INSTANCE_TYPE": "c6i.2xlarge",
    "CORE_INSTANCE_COUNT": "2",
    "CORE_MARKET": "ON_DEMAND",
    "IDLE_TIMEOUT_MINUTES": "15",
    "MAX_RUN_MINUTES": "180",
}
os.environ.update(LAMBDA_ENVIRONMENT)
