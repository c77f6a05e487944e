"""Fixtures for the Lambda tests: fake credentials, the deployment's environment, moto, a context."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from aws_deployment import ACCOUNT, ARTIFACTS_BUCKET, INPUTS_BUCKET, LOGS_BUCKET, OUTPUTS_BUCKET, REGION


@dataclass
class FakeLambdaContext:
    """The attributes of a Lambda context that Powertools reads."""

    function_name: str = "orchard-test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orchard-test-function"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in place of AWS, with the deployment's buckets created (versioned, as the template makes them)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (INPUTS_BUCKET, OUTPUTS_BUCKET, ARTIFACTS_BUCKET, LOGS_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield


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
