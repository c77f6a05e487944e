"""Lambda tasks of moto's Step Functions interpreter run the real handlers from lambdas/, in-process.

moto's Lambda runs code only through Docker. Here the interpreter's Lambda integration
(`lambda_eval_utils.execute_lambda_function_integration`, moto 5.2.5) is replaced, for the
duration of a block, by a call of the handler that template.yaml names for the function ARN, with
the event and context shapes Lambda gives: the JSON payload as a dict, a context object; an
exception becomes Lambda's `{"errorType", "errorMessage"}` function error, which Step Functions
turns into the error name. Faults of the Lambda service itself (throttling) can be injected.

Invocations run one at a time, whichever thread makes them (executions run side by side in moto): Lambda gives each
concurrent invocation an execution environment of its own, and here the handlers share one process's module state
(Powertools' metrics buffer and logger keys).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from orchard_local.account import ACCOUNT, REGION
from orchard_local.function_logs import invocation_logs

Handler = Callable[[Any, Any], Any]


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that the handlers (Powertools) read."""

    function_name: str = "orchard-function"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orchard-function"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class LambdaService:
    """Function ARN -> handler, and service faults still to inject."""

    handlers: dict[str, Handler]
    faults: dict[str, list[str]] = field(default_factory=dict)
    one_at_a_time: threading.RLock = field(default_factory=threading.RLock)

    def throttle(self, function_arn: str, times: int = 1) -> None:
        """The next `times` invocations of the function fail as Lambda throttling does."""
        self.faults.setdefault(function_arn, []).extend(["Lambda.TooManyRequestsException"] * times)

    def call(self, function_arn: str, event: Any) -> Any:
        """The handler's result for `event`, with a context as Lambda gives it (exceptions propagate); what it logs
        goes to the function's log group (orchard_local.function_logs)."""
        with self.one_at_a_time, invocation_logs(function_arn):
            return self.handlers[function_arn](event, FakeLambdaContext(function_arn.rsplit(":", 1)[-1], function_arn))

    def invoke(self, env: Any, function_arn: str, event: Any) -> dict[str, Any]:
        """Lambda's Invoke: the handler's result as the payload, or its exception as a function error."""
        pending = self.faults.get(function_arn)
        if pending:
            raise service_error(env, pending.pop(0), "Rate Exceeded.")
        try:
            result = self.call(function_arn, event)
        except Exception as error:  # the handler's failure is the function's error, as in Lambda
            payload = {"errorType": type(error).__name__, "errorMessage": str(error),
                       "stackTrace": traceback.format_tb(error.__traceback__)}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload}
        return {"StatusCode": 200, "Payload": json.loads(json.dumps(result))}


def service_error(env: Any, error: str, cause: str) -> FailureEventException:
    """A failure of the Lambda service (not of the function), as Step Functions names it."""
    return FailureEventException(FailureEvent(
        env=env,
        error_name=CustomErrorName(error),
        event_type=HistoryEventType.LambdaFunctionFailed,
        # moto declares EventDetails total (every kind of details required); an event has one, as moto builds them
        event_details=EventDetails(  # type: ignore[typeddict-item]
            lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)),
    ))


def handler_of(directory: Path, handler: str) -> Handler:
    """The function a template's CodeUri + Handler name (`lambdas/prepare_run/` + `app.handler`), its module
    loaded from that folder and executed afresh, as a cold start does, under a name of its own (every function's
    module is `app`)."""
    module_name, function_name = handler.rsplit(".", 1)
    name = f"lambda_{directory.name}_{module_name}"
    spec = importlib.util.spec_from_file_location(name, directory / f"{module_name}.py")
    assert spec is not None and spec.loader is not None, f"no module {module_name} in {directory}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves the handler's annotations through sys.modules
    spec.loader.exec_module(module)
    return getattr(module, function_name)


@contextlib.contextmanager
def lambdas_in_process(service: LambdaService, invoking: Callable[[str, str], None]) -> Iterator[LambdaService]:
    """Route the interpreter's Lambda invocations to `service` for the block; `invoking(function ARN, region)` is
    told of each first (the state machine's role calls Lambda's Invoke)."""
    original = lambda_eval_utils.execute_lambda_function_integration

    def execute(env: Any, parameters: dict, region: str, state_credentials: Any) -> None:
        invoking(parameters["FunctionName"], region)
        response = service.invoke(env, parameters["FunctionName"], json.loads(parameters["Payload"]))
        if "FunctionError" in response:
            raise lambda_eval_utils.LambdaFunctionErrorException(
                response["FunctionError"], json.dumps(response["Payload"], separators=(",", ":")))
        env.stack.append(response)

    lambda_eval_utils.execute_lambda_function_integration = execute
    try:
        yield service
    finally:
        lambda_eval_utils.execute_lambda_function_integration = original
