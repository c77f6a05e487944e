"""Whether the deployed template grants what each principal did: every recorded call's permissions (action and
resource, orchard_local.authorization), evaluated against the principal's identity policies (orchard_local.deployed).

The evaluator is moto's (`moto.iam.access_control.IAMPolicy.is_action_permitted`, the one moto enforces IAM with):
an explicit Deny in any policy wins, else an Allow in any grants. Its limits, which are this check's: conditions
are treated as met (no request values are given, so none is evaluated); NotResource is not understood (a statement
with it matches every resource); `*` in Action and Resource is matched, case-sensitively; policy variables are not
substituted. Resource-based policies (bucket, queue, key policies) and permissions boundaries are not evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from moto.iam.access_control import IAMPolicy, PermissionResult

from orchard_local.account import ACCOUNT
from orchard_local.authorization import Permission, permissions
from orchard_local.deployed import identity_policies
from orchard_local.principals import Call


class Missing(NamedTuple):
    """A permission a principal used that its policies do not grant."""

    principal: str
    action: str
    resource: str


def allowed(documents: Iterable[Mapping[str, Any]], permission: Permission) -> bool:
    """Whether identity policies allow the permission: no explicit Deny, and an Allow."""
    results = {IAMPolicy(json.dumps(document)).is_action_permitted(permission.action, permission.resource)
               for document in documents}
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def missing_grants(calls: Iterable[Call],
                   policies: Mapping[str, list[dict[str, Any]]] | None = None) -> list[Missing]:
    """Each permission some call needed that its principal's policies (by default the deployed template's) do not
    grant, once, sorted."""
    policies = identity_policies() if policies is None else policies
    needed = {(call.principal, permission) for call in calls
              for permission in permissions(call.operation, call.params, region=call.region, account=ACCOUNT,
                                            status=call.status)}
    return sorted(Missing(principal, *permission) for principal, permission in needed
                  if not allowed(policies[principal], permission))
