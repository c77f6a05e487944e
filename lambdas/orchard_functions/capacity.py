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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from orchard_functions.plan_model import InstanceFleet, Market

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


class InstanceTypeNotOffered(Exception):
    """The run names an instance type EC2 does not offer in the region: EMR could never launch it. The state machine
    sees this class's name."""


def not_offered_error(missing: Iterable[str], origins: Mapping[str, str], region: str,
                      source: str) -> InstanceTypeNotOffered:
    """The error naming each type EC2 does not offer, and the parameter or manifest field that named it."""
    named = "; ".join(f"{instance_type!r} ({origins[instance_type]})" for instance_type in sorted(missing))
    return InstanceTypeNotOffered(
        f"{source}: EC2 offers no such instance type in {region}: {named}. Name types EC2 offers in the region "
        f"(aws ec2 describe-instance-type-offerings --region {region}); EMR supports a subset of them (EMR "
        "Management Guide, \"Supported instance types\").")


def no_zone_error(fleets: Mapping[str, Sequence[str]], zones: Mapping[str, str], offered: set[tuple[str, str]],
                  source: str) -> InstanceTypeNotOffered:
    """The error of a run none of whose subnets' zones offers a type of every fleet: what each zone lacks."""
    lacking = []
    for subnet, zone in sorted(zones.items(), key=lambda item: item[1]):
        empty = [role for role, types in fleets.items() if not any((name, zone) in offered for name in types)]
        lacking.append(f"{zone} ({subnet}) offers none of the {' nor the '.join(empty)} types" if empty
                       else f"{zone} ({subnet}) offers them")
    wanted = "; ".join(f"{role}: {', '.join(types)}" for role, types in fleets.items())
    return InstanceTypeNotOffered(
        f"{source}: no subnet of the cluster is in an Availability Zone where EC2 offers an instance type of each "
        f"fleet ({wanted}): {'; '.join(lacking)}. Add instance types offered there (aws ec2 "
        "describe-instance-type-offerings --location-type availability-zone), or subnets in other zones (the SubnetIds "
        "parameter).")


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


def is_standard_fleet(fleet: InstanceFleet) -> bool:
    """Whether every type the fleet may launch counts against the Standard quotas (else EMR may fill it from others)."""
    return all(is_standard(instance_type) for instance_type in fleet.weights)


def other_types(fleets: Iterable[InstanceFleet]) -> list[str]:
    """The run's instance types outside the Standard families, each once, sorted: a fleet that holds one is not
    checked."""
    return sorted({instance_type for fleet in fleets for instance_type in fleet.weights
                   if not is_standard(instance_type)})


def uses_spot(fleets: Iterable[InstanceFleet]) -> bool:
    return any(fleet.market == "SPOT" for fleet in fleets)


def fleet_vcpus(fleet: InstanceFleet, vcpus: Mapping[str, int]) -> int:
    """The fewest vCPUs the fleet can be filled with: its capacity counted in vCPUs, or one instance of its smallest
    type."""
    if fleet.unit == "vCPU":
        return fleet.capacity
    return fleet.capacity * min(vcpus[instance_type] for instance_type in fleet.weights)


@dataclass(frozen=True)
class Demand:
    """What a run asks of one market's Standard quota: the vCPUs of each of its fleets in that market."""

    market: Market
    fleets: tuple[tuple[InstanceFleet, int], ...]  # each fleet and the fewest vCPUs it launches

    @property
    def vcpus(self) -> int:
        return sum(vcpus for _, vcpus in self.fleets)

    def breakdown(self) -> str:
        """primary: 1 of m5.xlarge, m6i.xlarge (4 vCPUs at least) + core: 16 vCPUs of c6i.2xlarge, c5.2xlarge
        = 20 vCPUs"""
        terms = [f"{fleet.role}: 1 of {', '.join(fleet.weights)} ({vcpus} vCPUs at least)" if fleet.unit == "instance"
                 else f"{fleet.role}: {vcpus} vCPUs of {', '.join(fleet.weights)}" for fleet, vcpus in self.fleets]
        return f"{' + '.join(terms)} = {self.vcpus} vCPUs"


def standard_demand(fleets: Iterable[InstanceFleet], vcpus: Mapping[str, int]) -> dict[Market, Demand]:
    """The vCPUs each market's Standard quota must allow at least, from each type's vCPUs (DescribeInstanceTypes'
    VCpuInfo.DefaultVCpus); a fleet that may launch a type outside the Standard families is left out."""
    by_market: dict[Market, list[tuple[InstanceFleet, int]]] = {}
    for fleet in fleets:
        if is_standard_fleet(fleet):
            by_market.setdefault(fleet.market, []).append((fleet, fleet_vcpus(fleet, vcpus)))
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
              f"e.g. {'; '.join(requests)}; or run a smaller cluster: fewer core vCPUs (the manifest's `cluster` "
              "block, core_vcpus, or the CoreVcpus parameter)")
    if any(demand.market == "SPOT" for demand, _ in problems):
        advice += ", or core_market ON_DEMAND"
    return RunExceedsQuota(f"{source}: " + " ".join(lines) + f" {advice}.")


def spot_role_missing_error(fleets: Iterable[InstanceFleet], source: str) -> SpotRoleMissing:
    """The error of a Spot run in an account without EC2's Spot service-linked role, with the command to create it."""
    spot = ", ".join(f"{fleet.role}: {fleet.capacity} {fleet.unit}s of {', '.join(fleet.weights)}"
                     for fleet in fleets if fleet.market == "SPOT")
    return SpotRoleMissing(
        f"{source}: the cluster asks for Spot instances ({spot}), and the account has no service-linked role "
        f"{SPOT_ROLE}, with which EC2 launches Spot instances; EC2 creates it only for a request made in its "
        "console, and \"If you use the AWS CLI or an API to request a Spot Instance, you must first ensure that "
        "this role exists\" (EC2 User Guide, \"Service-linked role for Spot Instance requests\"). Create it once "
        f"for the account: aws iam create-service-linked-role --aws-service-name {SPOT_SERVICE}; or run with "
        "core_market ON_DEMAND.")
