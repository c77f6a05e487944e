"""Where moto's interpreter differs from Step Functions in a way the workflow meets, made to agree.

- A Fail state whose ErrorPath gives a `States.` error (re-raising `States.TaskFailed` from a failed
  Spark step, say) fails in moto with "Custom Error Names MUST NOT begin with the prefix 'States.'";
  Step Functions ends the execution with that error. moto 5.2.5, `state_fail.CustomErrorName`.
- moto builds the interpreter's clients with `Config(parameter_validation=False)` (`asl.utils.boto_client.
  boto_client_for`, imported by name by each service integration), so a request that does not match the
  service's API goes through; AWS rejects it. Here they are built with botocore's validation on, everything else as
  moto builds them, and handed to the caller (who records their calls as the state machine role's).

And where moto's other services lack what Prepare the run asks of the account:

- moto's Service Quotas knows only the `vpc` service (moto 5.2.5, `servicequotas/models.py`, `get_service_quota`
  raises NoSuchResourceException for any other): here it also answers EC2's two Standard vCPU quotas, at values a
  test may change or remove (`ec2_vcpu_quotas`).
- moto's CreateServiceLinkedRole names a role `AWSServiceRoleFor` + the service principal's first label, so
  `spot.amazonaws.com` gets `AWSServiceRoleForspot` (`iam/models.py`, `create_service_linked_role`, whose
  SERVICE_NAME_CONVERSION lists three services); EC2's is `AWSServiceRoleForEC2Spot` (EC2 User Guide,
  "Service-linked role for Spot Instance requests"), at path /aws-service-role/spot.amazonaws.com/, which moto does
  give it (`spot_role_named_as_aws_names_it`).

And where moto's DynamoDB is not what DynamoDB is:

- moto's DynamoDB reads an item, checks the condition and writes the item back without a lock (moto 5.2.5,
  `DynamoDBBackend.update_item`), so two executions taking a cluster slot at once may both pass the condition and
  one write be lost. In DynamoDB "individual write operations such as UpdateItem are atomic and always operate on the
  most recent version of the item, regardless of concurrency" (DynamoDB Developer Guide, "Best practices for handling
  concurrent updates in DynamoDB"). Here each item operation runs alone.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final
from unittest import mock

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from moto.core.models import botocore_stubber
from moto.dynamodb.models import DynamoDBBackend
from moto.iam import models as iam_models
from moto.servicequotas.models import ServiceQuotasBackend
from moto.settings import moto_server_port
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    state_task_factory,  # noqa: F401 (imports every integration)
)
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.asl.utils import boto_client


class ReraisedErrorName(ErrorName):
    """An error name a Fail state passes on as it came, `States.` ones included."""


@contextlib.contextmanager
def fail_states_reraise() -> Iterator[None]:
    """Let Fail states end executions with the error they were given, for the block."""
    original = state_fail.CustomErrorName
    # moto's module-level class, replaced for the block (a monkeypatch mypy rightly forbids on a class)
    state_fail.CustomErrorName = ReraisedErrorName  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        state_fail.CustomErrorName = original  # type: ignore[misc]  # the monkeypatch undone


def validating_client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
    """moto's `boto_client_for` (moto 5.2.5) with botocore's parameter validation on."""
    endpoint_url = None if botocore_stubber.enabled else f"http://localhost:{moto_server_port()}"
    # boto3-stubs type client() per literal service name; the interpreter names the service at run time
    return boto3.client(  # type: ignore[call-overload]
        aws_access_key_id="ak", aws_secret_access_key="sk", region_name=region, service_name=service,
        config=Config(parameter_validation=True, retries={"max_attempts": 0, "total_max_attempts": 1},
                      connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                      read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS),
        endpoint_url=endpoint_url)


@contextlib.contextmanager
def interpreter_clients(prepare: Callable[[BaseClient], None]) -> Iterator[None]:
    """The interpreter's clients (those of the EMR adapter included) validate their requests, and each is handed
    to `prepare` when built, for the block: every module that imported moto's `boto_client_for` gets this one."""
    original = boto_client.boto_client_for

    def client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
        client = validating_client_for(region, service, state_credentials)
        prepare(client)
        return client

    users = [module for module in list(sys.modules.values()) if getattr(module, "boto_client_for", None) is original]
    for module in users:
        vars(module)["boto_client_for"] = client_for
    try:
        yield
    finally:
        for module in users:
            vars(module)["boto_client_for"] = original


# The account the offline stack plays has passed the deploy checklist (docs/aws.md): its Standard quotas allow the
# default cluster (20 vCPUs) and more, On-Demand and Spot. AWS's defaults are lower (5 vCPUs for L-1216C47A in the
# AWS CLI User Guide's example of get-aws-default-service-quota).
DEFAULT_EC2_VCPU_QUOTAS: Final[Mapping[str, float]] = {"L-1216C47A": 128.0, "L-34B43A08": 128.0}
MOTO_GET_SERVICE_QUOTA: Final = ServiceQuotasBackend.get_service_quota
EC2_QUOTA_NAMES: Final[Mapping[str, str]] = {
    "L-1216C47A": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
    "L-34B43A08": "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
}


@contextlib.contextmanager
def ec2_vcpu_quotas(values: Mapping[str, float] | None = None) -> Iterator[dict[str, float]]:
    """moto's Service Quotas answers GetServiceQuota for EC2's Standard vCPU quotas, for the block: the defaults, or
    `values`; the dict yielded is what it answers from (a test may change a value, or delete one to have Service
    Quotas answer NoSuchResourceException). As AWS shows them: `Unit` "None", the value a float of vCPUs."""
    quotas = dict(DEFAULT_EC2_VCPU_QUOTAS if values is None else values)

    def get_service_quota(backend: ServiceQuotasBackend, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code != "ec2" or quota_code not in quotas:
            return MOTO_GET_SERVICE_QUOTA(backend, service_code, quota_code)  # moto's own, not an enclosing block's
        return {"ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                "QuotaArn": f"arn:aws:servicequotas:{backend.region_name}:{backend.account_id}:ec2/{quota_code}",
                "QuotaCode": quota_code, "QuotaName": EC2_QUOTA_NAMES[quota_code], "Value": float(quotas[quota_code]),
                "Unit": "None", "Adjustable": True, "GlobalQuota": False}

    with mock.patch.object(ServiceQuotasBackend, "get_service_quota", get_service_quota):
        yield quotas


@contextlib.contextmanager
def spot_role_named_as_aws_names_it() -> Iterator[None]:
    """CreateServiceLinkedRole for spot.amazonaws.com makes AWSServiceRoleForEC2Spot, for the block."""
    with mock.patch.dict(iam_models.SERVICE_NAME_CONVERSION, {"spot": "EC2Spot"}):
        yield


@contextlib.contextmanager
def account_services() -> Iterator[dict[str, float]]:
    """Both fixes above, for the block; yields the EC2 quotas answered."""
    with spot_role_named_as_aws_names_it(), ec2_vcpu_quotas() as quotas:
        yield quotas


ITEM_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item")


@contextlib.contextmanager
def atomic_item_operations() -> Iterator[None]:
    """moto's DynamoDB item operations one at a time, for the block, as DynamoDB makes each atomic."""
    lock = threading.RLock()
    originals = {name: vars(DynamoDBBackend)[name] for name in ITEM_OPERATIONS}

    def alone(operation: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(operation)
        def run(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return operation(*args, **kwargs)
        return run

    for name, operation in originals.items():
        setattr(DynamoDBBackend, name, alone(operation))
    try:
        yield
    finally:
        for name, operation in originals.items():
            setattr(DynamoDBBackend, name, operation)
