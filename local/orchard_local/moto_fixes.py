"""Where moto's interpreter differs from Step Functions in a way the workflow meets, made to agree.

- A Fail state whose ErrorPath gives a `States.` error (re-raising `States.TaskFailed` from a failed
  Spark step, say) fails in moto with "Custom Error Names MUST NOT begin with the prefix 'States.'";
  Step Functions ends the execution with that error. moto 5.2.5, `state_fail.CustomErrorName`.
- moto builds the interpreter's clients with `Config(parameter_validation=False)` (`asl.utils.boto_client.
  boto_client_for`, imported by name by each service integration), so a request that does not match the
  service's API goes through; AWS rejects it. Here they are built with botocore's validation on, everything else as
  moto builds them, and handed to the caller (who records their calls as the state machine role's).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from moto.core.models import botocore_stubber
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
