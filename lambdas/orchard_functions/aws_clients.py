"""The functions' boto3 clients that must survive an API under load: each built here, with its retries written out.

Throttling: EMR answers a rate it will not serve with HTTP 400 `ThrottlingException`, "Rate exceeded" (AWS Knowledge
Center, "How do I prevent "rate exceeded" ThrottlingException errors when I run monitoring scripts in Amazon EMR?",
https://repost.aws/knowledge-center/emr-cluster-status-throttling-error: "Rate exceeded (Service:
AmazonElasticMapReduce; Status Code: 400; Error Code: ThrottlingException; ...)", and its advice, "Implement
exponential backoff"). Service Quotas names it `TooManyRequestsException` (its API model, GetServiceQuota's errors),
EC2 `RequestLimitExceeded` (Amazon EC2 Developer Guide, "Request throttling for the Amazon EC2 API",
https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html). botocore's standard retry mode retries these
(`botocore/retries/standard.py`, `ThrottledRetryableChecker._THROTTLED_ERROR_CODES`), and transient errors (HTTP
500, 502, 503, 504, connection errors), with truncated exponential backoff and jitter: before retry i (from 0), a
random wait of up to min(2**i, 20) seconds for a throttling error (`ExponentialBackoff.delay_amount`). The retries
are bounded by `max_attempts`, which in a `Config` counts the retries after the first attempt ("Setting this value
to 2 will result in the request being retried at most two times after the initial request": botocore's `Config`,
`retries`, in botocore/config.py; botocore turns it into `total_max_attempts` = max_attempts + 1), unlike
AWS_MAX_ATTEMPTS and the config file's max_attempts, which count every attempt (boto3 Developer Guide, "Retries",
https://docs.aws.amazon.com/boto3/latest/guide/retries.html). The mode is set here, not left to the default, which
depends on the botocore at hand: that guide still calls "legacy" the default, botocore 1.44.8 (the tests', and the
shared layer's) defaults to "standard" (`configprovider.py`, since boto/botocore PR #3513), and a function run with
the runtime's own SDK would get whatever botocore Lambda bundles.

Only calls that are safe to repeat go through these clients: EMR's DescribeCluster, ListClusters, ListSteps and
TerminateJobFlows (terminating a cluster that is terminating or terminated leaves it so: the request's effect is a
state, not an event), Record metrics' ListInstances and DescribeSpotPriceHistory, and Prepare's reads
(GetServiceQuota, DescribeInstanceTypes, GetRole). The two EMR calls that
are not (RunJobFlow, which has no idempotency token, and AddJobFlowSteps, which queues one more step per call) are
made by the state machine only, and never retried there (statemachine/README.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import boto3
from botocore.client import BaseClient
from botocore.config import Config

if TYPE_CHECKING:  # the stubs are a dev requirement, not in the layer
    from mypy_boto3_emr import EMRClient

# EMR's reads and terminations: 5 attempts at most, the 4 retries of a throttled call after waits of up to 1, 2, 4 and
# 8 s (15 s in all at most, a quarter of the functions' 60 s timeout).
EMR_MAX_RETRIES: Final = 4
# Reads of other services (Prepare's checks before any cluster, Record metrics' Spot prices): 3 attempts at most (waits
# of up to 1 and 2 s); Prepare has 30 s, most of it for listing the inputs, and a check that still cannot answer is
# skipped, not failed (orchard_functions.preflight).
READ_MAX_RETRIES: Final = 2


def retrying(max_retries: int) -> Config:
    """botocore's standard retry mode, at most `max_retries` retries after the first attempt."""
    return Config(retries={"mode": "standard", "max_attempts": max_retries})


def emr_client() -> EMRClient:
    """The EMR client of every function that calls EMR (clean_up, record_metrics, watch_clusters)."""
    return boto3.client("emr", config=retrying(EMR_MAX_RETRIES))


def read_client(service_name: str) -> BaseClient:
    """A client of Service Quotas ("service-quotas"), EC2 or IAM for reads: Prepare's checks before any cluster, Record
    metrics' Spot prices."""
    # boto3-stubs type client() per literal service name; the stubs of these three are not installed
    client: BaseClient = boto3.client(service_name, config=retrying(READ_MAX_RETRIES))  # type: ignore[call-overload]
    return client
