"""Can the account ever run this cluster? The run's vCPUs against the account's EC2 vCPU quotas, and the role EC2
needs for Spot instances: the verdicts, without AWS (the reads are in orchard_functions.preflight).

EC2 counts what may run at once in vCPUs, per quota: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z)
instances" (Service Quotas, service code `ec2`, quota code L-1216C47A: AWS CLI User Guide, "Service Quotas examples
using AWS CLI", https://docs.aws.amazon.com/cli/latest/userguide/cli_service-quotas_code_examples.html, whose example
shows the quota's usage metric dimension `Resource: vCPU` while its `Unit` says "None") and "All Standard (A, C, D,
H, I, M, R, T, Z) Spot Instance Requests" (L-34B43A08; "Spot Instance quotas are managed in terms of the number of
virtual central processing units (vCPUs)": EC2 User Guide, "Spot Instance quotas",
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html; that code is the one the quota carries in
Service Quotas, as public tools record it: no AWS page pairs code and name). A cluster whose instances need more
vCPUs of a market than its quota can never start: EMR asks EC2 for all of them at once.

The other families (DL, F, G and VT, High Memory, HPC, Inf, P, Trn, X) have quotas of their own, which this check
does not read: an instance type of theirs is skipped, and logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from orchard_functions.plan_model import InstanceGroup

Market = Literal["ON_DEMAND", "SPOT"]
STANDARD_LETTERS: Final = frozenset("acdhimrtz")
# Families whose name starts with a standard letter but which have a quota of their own (Running On-Demand DL, HPC,
# Inf, Trn instances; Mac instances run on Dedicated Hosts only).
OWN_QUOTA_FAMILIES: Final = frozenset({"dl", "hpc", "inf", "mac", "trn"})
FAMILY: Final = re.compile(r"[a-z]+")
SPOT_ROLE: Final = "AWSServiceRoleForEC2Spot"
SPOT_SERVICE: Final = "spot.amazonaws.com"


@dataclass(frozen=True)
class VcpuQuota:
    """An EC2 vCPU quota in Service Quotas."""

    code: str
    name: str
    market: Market
    service_code: str = "ec2"


QUOTAS: Final[Mapping[Market, VcpuQuota]] = {
    "ON_DEMAND": VcpuQuota("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
                           "ON_DEMAND"),
    "SPOT": VcpuQuota("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", "SPOT"),
}
MARKET_WORDS: Final[Mapping[Market, str]] = {"ON_DEMAND": "On-Demand", "SPOT": "Spot"}


class RunExceedsQuota(Exception):
    """The run's cluster needs more vCPUs than an EC2 quota of the account allows: it can never start. The state
    machine sees this class's name."""


class SpotRoleMissing(Exception):
    """The run asks for Spot instances and the account lacks the service-linked role EC2 launches them with. The
    state machine sees this class's name."""


def family_of(instance_type: str) -> str:
    """The instance family's letters: c6i.2xlarge -> c, inf2.xlarge -> inf, u-6tb1.metal -> u, im4gn.large -> im."""
    match = FAMILY.match(instance_type.lower())
    return match.group() if match else ""


def is_standard(instance_type: str) -> bool:
    """Whether the type counts against the Standard (A, C, D, H, I, M, R, T, Z) quotas."""
    family = family_of(instance_type)
    return family[:1] in STANDARD_LETTERS and family not in OWN_QUOTA_FAMILIES


def standard_types(groups: Iterable[InstanceGroup]) -> list[str]:
    """The run's instance types the Standard quotas count, each once, sorted."""
    return sorted({group.type for group in groups if group.count and is_standard(group.type)})


def other_types(groups: Iterable[InstanceGroup]) -> list[str]:
    """The run's instance types outside the Standard families (their quotas are not checked), each once, sorted."""
    return sorted({group.type for group in groups if group.count and not is_standard(group.type)})


def uses_spot(groups: Iterable[InstanceGroup]) -> bool:
    return any(group.market == "SPOT" and group.count for group in groups)


@dataclass(frozen=True)
class Demand:
    """What a run asks of one market's Standard quota: vCPUs by instance group."""

    market: Market
    groups: tuple[tuple[InstanceGroup, int], ...]  # each group and its type's vCPUs

    @property
    def vcpus(self) -> int:
        return sum(group.count * vcpus for group, vcpus in self.groups)

    def breakdown(self) -> str:
        """1 x m5.xlarge (primary, 4 vCPUs each) + 3 x c6i.2xlarge (core, 8 vCPUs each) = 28 vCPUs"""
        terms = [f"{group.count} x {group.type} ({group.role}, {vcpus} vCPUs each)" for group, vcpus in self.groups]
        return f"{' + '.join(terms)} = {self.vcpus} vCPUs"


def standard_demand(groups: Iterable[InstanceGroup], vcpus: Mapping[str, int]) -> dict[Market, Demand]:
    """The vCPUs each market's Standard quota must allow, from each type's vCPUs (DescribeInstanceTypes'
    VCpuInfo.DefaultVCpus); types outside the Standard families, or of unknown vCPUs, are left out."""
    by_market: dict[Market, list[tuple[InstanceGroup, int]]] = {}
    for group in groups:
        if group.count and is_standard(group.type) and group.type in vcpus:
            by_market.setdefault(group.market, []).append((group, vcpus[group.type]))
    return {market: Demand(market, tuple(entries)) for market, entries in by_market.items()}


def whole(value: float) -> str:
    """5.0 -> '5', 5.5 -> '5.5'."""
    return f"{value:g}"


def over_quota(demand: Demand, quota_value: float) -> bool:
    """Whether the demand can never fit the quota's applied value (vCPUs)."""
    return demand.vcpus > quota_value


def exceeds_quota_problem(demand: Demand, quota_value: float, region: str) -> str:
    """One market over its quota: the quota by name and code, its value, the run's vCPUs by instance type."""
    quota = QUOTAS[demand.market]
    return (f"the cluster needs {demand.vcpus} {MARKET_WORDS[demand.market]} vCPUs of the Standard families, more "
            f"than the account's quota \"{quota.name}\" (Service Quotas, service code {quota.service_code}, quota "
            f"code {quota.code}) allows in {region}: {whole(quota_value)} vCPUs. The cluster: {demand.breakdown()}.")


def exceeds_quota_error(problems: list[tuple[Demand, float]], region: str, source: str) -> RunExceedsQuota:
    """The error of a run over one or both quotas, with what to do about it."""
    lines = [exceeds_quota_problem(demand, value, region) for demand, value in problems]
    requests = [f"aws service-quotas request-service-quota-increase --region {region} --service-code "
                f"{QUOTAS[demand.market].service_code} --quota-code {QUOTAS[demand.market].code} "
                f"--desired-value {demand.vcpus}" for demand, _ in problems]
    advice = ("EMR could never start this cluster. Either request an increase of the quota in Service Quotas (it "
              "counts every running instance of the account in the region, so ask for more than this run needs), "
              f"e.g. {'; '.join(requests)}; or run a smaller cluster: fewer or smaller core nodes (the manifest's "
              "`cluster` block, core_instance_count and core_instance_type, or the CoreInstanceCount and "
              "CoreInstanceType parameters)")
    if any(demand.market == "SPOT" for demand, _ in problems):
        advice += ", or core_market ON_DEMAND"
    return RunExceedsQuota(f"{source}: " + " ".join(lines) + f" {advice}.")


def spot_role_missing_error(groups: Iterable[InstanceGroup], source: str) -> SpotRoleMissing:
    """The error of a Spot run in an account without EC2's Spot service-linked role, with the command to create it."""
    spot = ", ".join(f"{group.role}: {group.count} x {group.type}" for group in groups if group.market == "SPOT")
    return SpotRoleMissing(
        f"{source}: the cluster asks for Spot instances ({spot}), and the account has no service-linked role "
        f"{SPOT_ROLE}, with which EC2 launches Spot instances; EC2 creates it only for a request made in its "
        "console, and \"If you use the AWS CLI or an API to request a Spot Instance, you must first ensure that "
        "this role exists\" (EC2 User Guide, \"Service-linked role for Spot Instance requests\"). Create it once "
        f"for the account: aws iam create-service-linked-role --aws-service-name {SPOT_SERVICE}; or run with "
        "core_market ON_DEMAND.")
