"""The capacity verdicts before any cluster (orchard_functions.capacity), without AWS: which instance types the
Standard quotas count, the run's vCPUs by market, the verdict at the quota's edge, the messages; and the checks'
rule that only an answer refuses a run (orchard_functions.preflight, with stand-in clients)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from orchard_functions.capacity import (
    QUOTAS,
    InstanceTypeNotOffered,
    RunExceedsQuota,
    SpotRoleMissing,
    exceeds_quota_error,
    family_of,
    is_standard,
    other_types,
    over_quota,
    spot_role_missing_error,
    standard_demand,
    uses_spot,
)
from orchard_functions.plan_model import InstanceFleet
from orchard_functions.preflight import check_capacity, offered_vcpus
from orchard_functions.run_plan import FleetChoice

VCPUS = {"m5.xlarge": 4, "m6i.xlarge": 4, "m5.2xlarge": 8, "c6i.2xlarge": 8, "c6i.4xlarge": 16, "g5.xlarge": 4,
         "g5.2xlarge": 8}


def core(vcpus: int, *types: str, market: str = "ON_DEMAND") -> InstanceFleet:
    return InstanceFleet(role="core", weights={name: VCPUS[name] for name in types or ("c6i.2xlarge",)},
                         capacity=vcpus, unit="vCPU", market=market)


def primary(*types: str) -> InstanceFleet:
    return InstanceFleet(role="primary", weights=dict.fromkeys(types or ("m5.xlarge",), 1), capacity=1,
                         unit="instance", market="ON_DEMAND")


PRIMARY = primary()


@pytest.mark.parametrize(("instance_type", "family", "standard"), [
    ("m5.xlarge", "m", True), ("c6i.2xlarge", "c", True), ("r7iz.large", "r", True), ("t4g.micro", "t", True),
    ("z1d.large", "z", True), ("a1.medium", "a", True), ("d3en.xlarge", "d", True), ("h1.2xlarge", "h", True),
    ("i4i.large", "i", True), ("im4gn.large", "im", True), ("is4gen.large", "is", True), ("m7i-flex.large", "m", True),
    ("g5.xlarge", "g", False), ("p4d.24xlarge", "p", False), ("x2idn.16xlarge", "x", False), ("f1.2xlarge", "f", False),
    ("vt1.3xlarge", "vt", False), ("u-6tb1.metal", "u", False), ("inf2.xlarge", "inf", False),
    ("dl1.24xlarge", "dl", False), ("trn1.2xlarge", "trn", False), ("hpc7g.4xlarge", "hpc", False),
    ("mac2.metal", "mac", False), ("C6I.2XLARGE", "c", True),
])
def test_the_standard_quotas_count_the_a_c_d_h_i_m_r_t_z_families_only(instance_type, family, standard):
    """A, C, D, H, I, M, R, T, Z, but not the families with a quota of their own whose name starts with one of those
    letters (DL, HPC, Inf, Trn, Mac)."""
    assert family_of(instance_type) == family
    assert is_standard(instance_type) is standard


def test_vcpus_are_summed_by_market_the_core_fleets_capacity_and_the_primarys_smallest_type():
    demand = standard_demand([primary("m5.2xlarge", "m6i.xlarge"), core(24, "c6i.2xlarge", "c6i.4xlarge",
                                                                        market="SPOT")], VCPUS)

    assert {market: d.vcpus for market, d in demand.items()} == {"ON_DEMAND": 4, "SPOT": 24}
    together = standard_demand([PRIMARY, core(24)], VCPUS)
    assert {market: d.vcpus for market, d in together.items()} == {"ON_DEMAND": 28}


def test_a_fleet_that_may_launch_a_type_outside_the_standard_families_is_not_counted():
    """EMR could fill it with the other family's type, whose quota is another: the Standard quota may never see it."""
    fleets = [primary("g5.xlarge"), core(16, "c6i.2xlarge", "g5.2xlarge")]

    assert standard_demand(fleets, VCPUS) == {}
    assert other_types(fleets) == ["g5.2xlarge", "g5.xlarge"]
    assert standard_demand([PRIMARY, core(16, "c6i.2xlarge", "g5.2xlarge")], VCPUS)["ON_DEMAND"].vcpus == 4


def test_a_run_exactly_at_its_quota_fits_and_one_vcpu_more_does_not():
    (demand,) = standard_demand([PRIMARY, core(16)], VCPUS).values()

    assert demand.vcpus == 20
    assert not over_quota(demand, 20.0)
    assert over_quota(demand, 19.0)


def test_spot_is_asked_of_only_a_fleet_on_spot():
    assert uses_spot([PRIMARY, core(16, market="SPOT")])
    assert not uses_spot([PRIMARY, core(16)])


def test_the_refusal_names_the_quota_its_code_and_value_the_vcpus_by_fleet_and_what_to_do():
    fleets = [primary("m5.xlarge", "m6i.xlarge"), core(16, "c6i.2xlarge", "c6i.4xlarge")]
    (demand,) = standard_demand(fleets, VCPUS).values()

    error = exceeds_quota_error([(demand, 5.0)], "eu-west-1", "s3://inputs/manifests/mini.json")

    assert isinstance(error, RunExceedsQuota) and type(error).__name__ == "RunExceedsQuota"
    assert str(error) == (
        "s3://inputs/manifests/mini.json: the cluster needs 20 On-Demand vCPUs of the Standard families, more than the "
        "account's quota \"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances\" (Service Quotas, service "
        "code ec2, quota code L-1216C47A) allows in eu-west-1: 5 vCPUs. The cluster: primary: 1 of m5.xlarge, "
        "m6i.xlarge (4 vCPUs at least) + core: 16 vCPUs of c6i.2xlarge, c6i.4xlarge = 20 vCPUs. EMR could never start "
        "this cluster. Either request an increase of the quota in Service Quotas (it counts every running instance of "
        "the account in the region, so ask for more than this run needs), e.g. aws service-quotas "
        "request-service-quota-increase --region eu-west-1 --service-code ec2 --quota-code L-1216C47A "
        "--desired-value 20; or run a smaller cluster: fewer core vCPUs (the manifest's `cluster` block, core_vcpus, "
        "or the CoreVcpus parameter).")


def test_a_spot_refusal_names_the_spot_quota_and_offers_on_demand():
    (demand,) = standard_demand([core(64, "c6i.4xlarge", market="SPOT")], VCPUS).values()

    message = str(exceeds_quota_error([(demand, 32.5)], "eu-west-1", "the execution input"))

    assert QUOTAS["SPOT"].name == "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"
    assert "64 Spot vCPUs" in message and "L-34B43A08" in message and "32.5 vCPUs" in message
    assert message.endswith(", or core_market ON_DEMAND.")


def test_the_missing_spot_role_is_refused_with_the_command_that_creates_it():
    error = spot_role_missing_error([PRIMARY, core(16, "c6i.2xlarge", market="SPOT")], "the execution input")

    assert isinstance(error, SpotRoleMissing)
    assert str(error).startswith("the execution input: the cluster asks for Spot instances (core: 16 vCPUs of "
                                 "c6i.2xlarge), and the account has no service-linked role AWSServiceRoleForEC2Spot")
    assert "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com" in str(error)


# --- only an answer refuses a run ------------------------------------------------------------------------------


class Paginator:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self.pages


class Account:
    """Stand-ins for the EC2, Service Quotas and IAM clients: answers, or an error to raise."""

    def __init__(self, quotas: dict[str, float], vcpus: dict[str, int] = VCPUS, error: Exception | None = None,
                 role: bool = True) -> None:
        self.quotas, self.vcpus, self.error, self.role = quotas, vcpus, error, role
        self.calls: list[str] = []

    def get_paginator(self, name: str) -> Paginator:
        self.calls.append("DescribeInstanceTypes")
        if self.error:
            raise self.error
        return Paginator([{"InstanceTypes": [{"InstanceType": name, "VCpuInfo": {"DefaultVCpus": vcpus}}
                                             for name, vcpus in self.vcpus.items()]}])

    def get_service_quota(self, ServiceCode: str, QuotaCode: str) -> dict[str, Any]:  # boto3's parameter names
        self.calls.append("GetServiceQuota")
        if self.error:
            raise self.error
        return {"Quota": {"Value": self.quotas[QuotaCode], "Unit": "None"}}

    def get_role(self, RoleName: str) -> dict[str, Any]:
        self.calls.append("GetRole")
        if self.error:
            raise self.error
        if not self.role:
            raise ClientError({"Error": {"Code": "NoSuchEntity", "Message": f"Role {RoleName} not found"}}, "GetRole")
        return {"Role": {"RoleName": RoleName}}


def check(account: Account, fleets: list[InstanceFleet]) -> None:
    check_capacity(service_quotas=account, iam=account, fleets=fleets, vcpus=VCPUS, region="eu-west-1",
                   source="the execution input")


SPOT_RUN = [PRIMARY, core(16, market="SPOT")]


@pytest.mark.parametrize("error", [
    ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "GetServiceQuota"),
    ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "GetServiceQuota"),
    EndpointConnectionError(endpoint_url="https://servicequotas.eu-west-1.amazonaws.com"),
])
def test_no_answer_never_refuses_a_run(error):
    check(Account({"L-1216C47A": 0, "L-34B43A08": 0}, error=error, role=False), SPOT_RUN)


def test_an_answer_refuses_a_run():
    with pytest.raises(RunExceedsQuota):
        check(Account({"L-1216C47A": 128, "L-34B43A08": 8}), SPOT_RUN)
    with pytest.raises(SpotRoleMissing):
        check(Account({"L-1216C47A": 128, "L-34B43A08": 128}, role=False), SPOT_RUN)


def test_the_quotas_are_read_only_for_the_markets_the_run_uses_and_the_role_only_for_spot():
    on_demand = Account({"L-1216C47A": 128})
    check(on_demand, [PRIMARY, core(16)])
    assert on_demand.calls == ["GetServiceQuota"]

    spot = Account({"L-1216C47A": 128, "L-34B43A08": 128})
    check(spot, SPOT_RUN)
    assert spot.calls == ["GetServiceQuota", "GetServiceQuota", "GetRole"]


def test_every_instance_type_the_run_names_must_be_offered_and_each_missing_one_is_named_with_its_origin():
    choice = FleetChoice(primary_types=("m5.xlarge",), core_types=("c6i.2xlarge", "c99q.huge"), core_vcpus=16,
                         core_market="ON_DEMAND", origins={"m5.xlarge": "the PrimaryInstanceTypes parameter",
                                                           "c6i.2xlarge": "$.cluster.core_instance_types",
                                                           "c99q.huge": "$.cluster.core_instance_types"})
    account = Account({})

    with pytest.raises(InstanceTypeNotOffered) as refused:
        offered_vcpus(account, choice, "eu-west-1", "s3://inputs/manifests/big.json")

    assert str(refused.value).startswith("s3://inputs/manifests/big.json: EC2 offers no such instance type in "
                                         "eu-west-1: 'c99q.huge' ($.cluster.core_instance_types).")
    assert offered_vcpus(account, FleetChoice(("m5.xlarge",), ("c6i.2xlarge",), 16, "ON_DEMAND", {}), "eu-west-1",
                         "x") == {"m5.xlarge": 4, "c6i.2xlarge": 8}
