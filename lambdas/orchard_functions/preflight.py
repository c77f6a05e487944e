"""Before a cluster is asked for: the account's answers the capacity verdicts need (orchard_functions.capacity), read
cheaply (one DescribeInstanceTypes; a DescribeSubnets and a DescribeInstanceTypeOfferings when the deployment gives
subnets; a GetServiceQuota per market the run uses; a GetRole for a Spot run).

The instance types' vCPUs are the fleets' weights, so the plan needs them: an instance type EC2 does not offer in the
region refuses the run, and a DescribeInstanceTypes that fails fails it. No other check may block a run that could
fit: only an answer refuses a run; a read that fails (a quota Service Quotas does not hold in the region, access
denied, throttling past the client's retries) is logged as a warning, and its check skipped: EMR will tell, as it
would have without the check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from orchard_functions.capacity import (
    QUOTAS,
    SPOT_ROLE,
    Demand,
    Market,
    VcpuQuota,
    exceeds_quota_error,
    no_zone_error,
    not_offered_error,
    other_types,
    over_quota,
    spot_role_missing_error,
    standard_demand,
    uses_spot,
)
from orchard_functions.plan_model import InstanceFleet
from orchard_functions.run_plan import FleetChoice

logger = Logger(child=True)  # the function's Logger's: its keys and its output
UNANSWERED = (ClientError, BotoCoreError)  # an error answer, or none (connection, timeout)


def reason(error: Exception) -> str:
    """An AWS error by its code (ClientError), else by its class."""
    if isinstance(error, ClientError):
        return f"{error.response['Error'].get('Code')}: {error.response['Error'].get('Message')}"
    return f"{type(error).__name__}: {error}"


def instance_vcpus(ec2: Any, instance_types: Sequence[str]) -> dict[str, int]:
    """The vCPUs of each of the instance types that EC2 offers in the client's region; the others are left out.

    DescribeInstanceTypes with the `instance-type` filter, which (unlike its InstanceTypes parameter, refused whole with
    InvalidInstanceType) lists just the matches (EC2 API Reference, DescribeInstanceTypes, Filters,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstanceTypes.html); VCpuInfo.DefaultVCpus is
    "The default number of vCPUs for the instance type" (EC2 API Reference, "VCpuInfo",
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_VCpuInfo.html). `ec2`: a boto3 EC2 client."""
    pages = ec2.get_paginator("describe_instance_types").paginate(
        Filters=[{"Name": "instance-type", "Values": list(instance_types)}])
    return {described["InstanceType"]: described["VCpuInfo"]["DefaultVCpus"]
            for page in pages for described in page["InstanceTypes"]}


def offered_vcpus(ec2: Any, choice: FleetChoice, region: str, source: str) -> dict[str, int]:
    """The vCPUs of every instance type the run names, or InstanceTypeNotOffered naming those EC2 does not offer."""
    described = instance_vcpus(ec2, choice.instance_types)
    if missing := set(choice.instance_types) - described.keys():
        raise not_offered_error(missing, choice.origins, region, source)
    return {instance_type: described[instance_type] for instance_type in choice.instance_types}


def subnet_zones(ec2: Any, subnet_ids: Sequence[str]) -> dict[str, str]:
    """Each subnet's Availability Zone (DescribeSubnets, Subnet.AvailabilityZone). `ec2`: a boto3 EC2 client."""
    pages = ec2.get_paginator("describe_subnets").paginate(SubnetIds=list(subnet_ids))
    return {subnet["SubnetId"]: subnet["AvailabilityZone"] for page in pages for subnet in page["Subnets"]}


def zone_offerings(ec2: Any, zones: Iterable[str], instance_types: Iterable[str]) -> set[tuple[str, str]]:
    """The (instance type, zone) pairs EC2 offers among these (DescribeInstanceTypeOfferings with LocationType
    availability-zone, filtered by `location` and `instance-type`: EC2 API Reference,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstanceTypeOfferings.html)."""
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "location", "Values": sorted(set(zones))},
                                                   {"Name": "instance-type", "Values": sorted(set(instance_types))}])
    return {(offer["InstanceType"], offer["Location"]) for page in pages for offer in page["InstanceTypeOfferings"]}


def usable_subnets(ec2: Any, subnet_ids: Sequence[str], choice: FleetChoice, source: str) -> list[str]:
    """The subnets in whose Availability Zone EC2 offers at least one instance type of each fleet, in their order.

    EMR launches a cluster in one of the fleets' subnets (orchard_functions.run_plan), and an instance type missing
    from that subnet's zone ends a cluster with "The requested instance type ... is not supported in the requested
    Availability Zone" (EMR Management Guide, "Instance type not supported"), so a zone that cannot fill a fleet is
    left out of the request; a zone offering some of a fleet's types is kept, the fleet launching from those (EMR
    fills fleets through EC2 Fleet, ec2:CreateFleet in AmazonEMRServicePolicy_v2). None left: InstanceTypeNotOffered.
    Without an answer from EC2 the subnets are kept, and a warning logged (EMR will tell).
    """
    if not subnet_ids:
        return []
    fleets = {"primary": choice.primary_types, "core": choice.core_types}
    try:
        zones = subnet_zones(ec2, subnet_ids)
        offered = zone_offerings(ec2, zones.values(), choice.instance_types)
    except UNANSWERED as error:
        logger.warning("EC2 did not say which zones offer the instance types: every subnet is kept",
                       extra={"subnet_ids": list(subnet_ids), "reason": reason(error)})
        return list(subnet_ids)
    fits = {subnet: all(any((instance_type, zone) in offered for instance_type in types) for types in fleets.values())
            for subnet, zone in zones.items()}
    usable = [subnet for subnet in subnet_ids if fits.get(subnet)]
    if not usable:
        raise no_zone_error(fleets, zones, offered, source)
    if left_out := [subnet for subnet in subnet_ids if subnet not in usable]:
        logger.info("Subnets whose zone offers none of a fleet's instance types are left out",
                    extra={"subnet_ids": left_out, "zones": sorted({zones[subnet] for subnet in left_out
                                                                    if subnet in zones})})
    return usable


def applied_quota(service_quotas: Any, quota: VcpuQuota) -> float:
    """The quota's value for this account and region: GetServiceQuota "Retrieves the applied quota value for the
    specified account-level or resource-level quota" (Service Quotas API Reference, GetServiceQuota,
    https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html); its `Unit` says
    "None" for the vCPU quotas, whose value counts vCPUs by definition (orchard_functions.capacity).
    `service_quotas`: a boto3 Service Quotas client."""
    answer = service_quotas.get_service_quota(ServiceCode=quota.service_code, QuotaCode=quota.code)
    return float(answer["Quota"]["Value"])


def spot_role_exists(iam: Any) -> bool:
    """Whether the account has EC2's Spot service-linked role: GetRole answers NoSuchEntity when it has not (IAM API
    Reference, GetRole, Errors). `iam`: a boto3 IAM client."""
    try:
        iam.get_role(RoleName=SPOT_ROLE)
    except ClientError as error:
        if error.response["Error"].get("Code") == "NoSuchEntity":
            return False
        raise
    return True


def quota_problems(service_quotas: Any, demands: Mapping[Market, Demand]) -> list[tuple[Demand, float]]:
    """Each market's demand over its quota, with the quota's value; a quota that cannot be read is skipped."""
    problems = []
    for market in sorted(demands):
        demand, quota = demands[market], QUOTAS[market]
        try:
            value = applied_quota(service_quotas, quota)
        except UNANSWERED as error:
            logger.warning("Service Quotas did not answer: this quota is not checked", extra={
                "quota_code": quota.code, "quota_name": quota.name, "reason": reason(error)})
            continue
        logger.info("vCPUs against the quota", extra={"market": market, "quota_code": quota.code,
                                                      "quota_vcpus": value, "run_vcpus": demand.vcpus})
        if over_quota(demand, value):
            problems.append((demand, value))
    return problems


def check_capacity(*, service_quotas: Any, iam: Any, fleets: Sequence[InstanceFleet], vcpus: Mapping[str, int],
                   region: str, source: str) -> None:
    """Raise RunExceedsQuota when the run's Standard vCPUs of a market exceed that market's quota, SpotRoleMissing
    when a Spot run's account lacks AWSServiceRoleForEC2Spot; `source` names the run's manifest in the message."""
    if skipped := other_types(fleets):
        logger.info("Instance types outside the Standard (A, C, D, H, I, M, R, T, Z) families: the quotas of the "
                    "fleets that hold them are not checked", extra={"instance_types": skipped})
    problems = quota_problems(service_quotas, standard_demand(fleets, vcpus))
    if problems:
        raise exceeds_quota_error(problems, region, source)
    if uses_spot(fleets):
        try:
            exists = spot_role_exists(iam)
        except UNANSWERED as error:
            logger.warning(f"IAM did not say whether {SPOT_ROLE} exists: not checked", extra={"reason": reason(error)})
            return
        if not exists:
            raise spot_role_missing_error(fleets, source)
