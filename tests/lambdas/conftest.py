"""Fixtures for the Lambda tests: fake credentials, the deployment's environment, moto, a context."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from orchard_local import template
from orchard_local.account import ARTIFACTS_BUCKET, INPUTS_BUCKET, LOGS_BUCKET, OUTPUTS_BUCKET, REGION, SLOTS_TABLE
from orchard_local.lambda_service import FakeLambdaContext
from orchard_local.moto_fixes import account_services


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in place of AWS, with the deployment's buckets created (versioned, as the template makes them), and
    EC2's vCPU quotas answered by Service Quotas (orchard_local.moto_fixes)."""
    with mock_aws(), account_services():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (INPUTS_BUCKET, OUTPUTS_BUCKET, ARTIFACTS_BUCKET, LOGS_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield


@pytest.fixture
def slots(aws):
    """The cluster slots table, as the template declares it, empty (the clean-up releases its slot there)."""
    properties = template.resources()["SlotsTable"]["Properties"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(TableName=SLOTS_TABLE, KeySchema=properties["KeySchema"],
                          AttributeDefinitions=properties["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST")
    return dynamodb


@pytest.fixture
def s3(aws):
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def emr(aws):
    return boto3.client("emr", region_name=REGION)


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    """Each test starts with no metrics buffered and a cold start, as a new Lambda would."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics.provider import cold_start

    Metrics().clear_metrics()
    cold_start.is_cold_start = True
    yield
    Metrics().clear_metrics()
