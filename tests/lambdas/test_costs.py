"""The cost estimate: hand-computed numbers on a small table, and the table shipped for eu-west-1."""

from __future__ import annotations

import datetime as dt

import pytest

from orchard_functions.costs import InstancePrice, PriceTable, load_price_table, run_cost, unknown_cost

TABLE = PriceTable(
    region="eu-west-1",
    currency="USD",
    as_of="2025-01-01",
    instances={"m5.xlarge": InstancePrice(ec2=0.2, emr=0.05), "c6i.2xlarge": InstancePrice(ec2=0.4, emr=0.1)},
)
PRIMARY = {"role": "primary", "type": "m5.xlarge", "count": 1, "market": "ON_DEMAND"}
CORE_SPOT = {"role": "core", "type": "c6i.2xlarge", "count": 2, "market": "SPOT"}
REQUIRED_TYPES = (
    "m5.xlarge m5.2xlarge m5.4xlarge m6i.xlarge m6i.2xlarge c5.2xlarge c5.4xlarge"
    " c6i.2xlarge c6i.4xlarge c7i.2xlarge r5.xlarge"
).split()


def test_cost_is_count_times_hourly_ec2_plus_emr_times_cluster_hours():
    cost = run_cost([PRIMARY, CORE_SPOT], cluster_seconds=1800, table=TABLE)

    # half an hour: primary 1 x (0.2 + 0.05) x 0.5 = 0.125; core 2 x (0.4 + 0.1) x 0.5 = 0.5
    assert cost["estimated_usd"] == pytest.approx(0.625)
    assert [line["usd"] for line in cost["breakdown"]] == [pytest.approx(0.125), pytest.approx(0.5)]
    assert cost["cluster_hours"] == 0.5
    assert cost["reason"] is None
    assert cost["price_table"] == {"region": "eu-west-1", "currency": "USD", "as_of": "2025-01-01"}
    assert cost["breakdown"][1] == {
        "role": "core",
        "type": "c6i.2xlarge",
        "count": 2,
        "market": "SPOT",
        "ec2_hourly_usd": 0.4,
        "emr_hourly_usd": 0.1,
        "usd": pytest.approx(0.5),
    }


@pytest.mark.parametrize(
    ("groups", "seconds", "expected"),
    [
        ([{**PRIMARY, "count": 4}], 5400, 1.5),  # 4 x 0.25 x 1.5 h
        ([PRIMARY], 72, 0.005),  # 0.25 x 0.02 h
        ([PRIMARY], 36, 0.0042),  # under a minute, billed a minute: 0.25 / 60 = 0.00417
        ([PRIMARY, CORE_SPOT], 0, 0.0208),  # no time at all, still a minute per instance: 1.25 / 60 = 0.02083
    ],
)
def test_cost_by_hand(groups, seconds, expected):
    assert run_cost(groups, cluster_seconds=seconds, table=TABLE)["estimated_usd"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("seconds", "billed_seconds"),
    [(0.3, 60), (59.9, 60), (60, 60), (61, 61), (61.5, 61.5)],
)
def test_each_instance_is_billed_per_second_with_a_one_minute_minimum(seconds, billed_seconds):
    # An emulated cluster lives a fraction of a second: it is still billed a minute per instance, never 0.
    cost = run_cost([PRIMARY, CORE_SPOT], cluster_seconds=seconds, table=TABLE)

    per_second = [0.25 / 3600, 2 * 0.5 / 3600]  # primary, core: count x (EC2 + EMR) hourly price, per second
    assert [line["usd"] for line in cost["breakdown"]] == [round(usd * billed_seconds, 4) for usd in per_second]
    assert cost["estimated_usd"] == round(sum(per_second) * billed_seconds, 4) > 0
    assert "per second with a one-minute minimum per instance" in cost["basis"]


def test_spot_instances_are_priced_on_demand_and_say_so():
    assert any("upper bound" in note for note in run_cost([PRIMARY, CORE_SPOT], 60, TABLE)["notes"])
    assert run_cost([PRIMARY], 60, TABLE)["notes"] == []


def test_an_unknown_instance_type_makes_the_total_unknown_with_the_reason():
    cost = run_cost([PRIMARY, {**CORE_SPOT, "type": "x9.mega"}], cluster_seconds=3600, table=TABLE)

    assert cost["estimated_usd"] is None
    assert cost["reason"] == "no eu-west-1 price for x9.mega"
    assert cost["breakdown"][0]["usd"] == pytest.approx(0.25)
    assert cost["breakdown"][1]["usd"] is None and cost["breakdown"][1]["ec2_hourly_usd"] is None


def test_unknown_cost_has_the_same_keys_as_an_estimate():
    unknown = unknown_cost("no cluster")

    assert unknown.keys() == run_cost([PRIMARY], 60, TABLE).keys()
    assert unknown["estimated_usd"] is None and unknown["reason"] == "no cluster"


def test_the_eu_west_1_table_ships_as_package_data_and_covers_the_instance_types_offered():
    table = load_price_table("eu-west-1")

    assert table is not None
    assert (table.region, table.currency) == ("eu-west-1", "USD")
    dt.date.fromisoformat(table.as_of)
    assert set(REQUIRED_TYPES) <= set(table.instances)
    for name, price in table.instances.items():
        assert 0 < price.emr < price.ec2 < 2, name  # the EMR uplift is a fraction of the EC2 price


def test_no_table_for_another_region():
    assert load_price_table("us-east-1") is None
