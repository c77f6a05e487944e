"""Who calls AWS in the offline deployment, and every call each makes, to check them against the deployed policies.

A principal is a role of the deployed template (by logical id): each function's, the state machine's, the clusters'
instance role. Calls are attributed per client, whatever thread makes them: botocore handlers on the client's
events record each request's operation and parameters (`before-parameter-build`) and its answer's status
(`after-call`). A session's handlers are copied into every client it makes afterwards, so a principal's session
stands for the credentials code gets from its environment (a Lambda function's, an EMR node's instance profile).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

import boto3
import botocore.session
from botocore.client import BaseClient
from botocore.model import OperationModel

from orchard_local.account import REGION

REQUEST: Final = "orchard:request"  # where a request's parameters wait, in botocore's request context, for the answer


@dataclass(frozen=True)
class Call:
    """One AWS request a principal made: its operation and parameters, the region, the answer's HTTP status."""

    principal: str
    operation: OperationModel
    params: Mapping[str, Any]
    region: str
    status: int


@cache
def lambda_invoke() -> OperationModel:
    return botocore.session.get_session().get_service_model("lambda").operation_model("Invoke")


@dataclass
class Principal:
    """A role of the deployed template, recording its calls into a shared list."""

    role: str
    calls: list[Call]

    def watch(self, events: Any) -> None:
        """Record, as this principal's, the calls of a client with these events (a client's `meta.events`), or of
        every client made later by a session with these events (a session's `events`)."""
        events.register("before-parameter-build", self._requested)
        events.register("after-call", self._answered)

    def _requested(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[REQUEST] = dict(params)

    def _answered(self, http_response: Any, model: OperationModel, context: dict[str, Any], **_: Any) -> None:
        self.calls.append(Call(self.role, model, context[REQUEST], context["client_region"], http_response.status_code))

    def session(self) -> boto3.Session:
        """Credentials of this principal: every client the session makes is watched."""
        session = boto3.Session(region_name=REGION)
        self.watch(session.events)
        return session

    def watch_module(self, module: types.ModuleType) -> None:
        """Watch the boto3 clients a module holds at module level (a Lambda handler's, made at its cold start)."""
        for value in vars(module).values():
            if isinstance(value, BaseClient):
                self.watch(value.meta.events)

    def invoked(self, function_arn: str, region: str) -> None:
        """This principal invoked a Lambda function (Lambda's Invoke), in-process rather than through a client."""
        self.calls.append(Call(self.role, lambda_invoke(), {"FunctionName": function_arn}, region, 200))


@dataclass
class Principals:
    """The deployment's principals, by role, and every call any of them made."""

    calls: list[Call] = field(default_factory=list)

    def __getitem__(self, role: str) -> Principal:
        return Principal(role, self.calls)
