"""The cost estimate: hand-computed numbers on a small table, and the table shipped for eu-west-1."""

from __future__ import annotations

import datetime as dt

import pytest

from orchard_functions.costs import (
    InstancePrice,
    LaunchedInstance,
    PriceTable,
    load_price_table,
    run_cost,
    unknown_cost,
)

TABLE = PriceTable(
    region="eu-west-1",
    currency="USD",
    as_of="2025-01-01",
    instances={"m5.xlarge": InstancePrice(ec2=0.2, emr=0.05), "c6i.2xlarge": InstancePrice(ec2=0.4, emr=0.1)},
)
LAUNCHED = dt.datetime(2026, 11, 27, 21, 0, tzinfo=dt.UTC)


def instances(role: str, instance_type: str, count: int, seconds: float, market: str = "ON_DEMAND"):
    return [LaunchedInstance(role, instance_type, market, LAUNCHED, seconds)] * count


def test_each_launched_instance_costs_its_ec2_plus_emr_hourly_price_for_its_own_life():
    launched = [*instances("primary", "m5.xlarge", 1, 1800), *instances("core", "c6i.2xlarge", 2, 1800),
                *instances("core", "c6i.2xlarge", 1, 900)]  # a core node that came later

    cost = run_cost(launched, TABLE, spot_prices={})

    # primary 1 x (0.2 + 0.05) x 0.5 h = 0.125; core (2 x 0.5 h + 0.25 h) x (0.4 + 0.1) = 0.625
    assert cost["estimated_usd"] == pytest.approx(0.75)
    assert cost["billed_instance_hours"] == 1.75
    assert cost["reason"] is None and cost["notes"] == []
    assert cost["price_table"] == {"region": "eu-west-1", "currency": "USD", "as_of": "2025-01-01"}
    assert cost["breakdown"] == [
        {"role": "primary", "type": "m5.xlarge", "market": "ON_DEMAND", "count": 1, "billed_seconds": 1800.0,
         "ec2_hourly_usd": 0.2, "ec2_rate": "on-demand list price", "emr_hourly_usd": 0.05, "usd": 0.125},
        {"role": "core", "type": "c6i.2xlarge", "market": "ON_DEMAND", "count": 3, "billed_seconds": 4500.0,
         "ec2_hourly_usd": 0.4, "ec2_rate": "on-demand list price", "emr_hourly_usd": 0.1, "usd": 0.625},
    ]


def test_spot_instances_cost_their_spot_price_and_the_same_emr_price():
    launched = [*instances("core", "c6i.2xlarge", 2, 3600, "SPOT"), *instances("core", "c6i.2xlarge", 1, 3600)]

    cost = run_cost(launched, TABLE, spot_prices={"c6i.2xlarge": 0.15})

    spot, on_demand = cost["breakdown"]
    assert (spot["market"], spot["ec2_hourly_usd"], spot["ec2_rate"], spot["usd"]) == (
        "SPOT", 0.15, "Spot price at launch", pytest.approx(2 * (0.15 + 0.1)))
    assert (on_demand["market"], on_demand["ec2_hourly_usd"], on_demand["usd"]) == ("ON_DEMAND", 0.4, 0.5)
    assert cost["notes"] == []


def test_a_spot_instance_without_a_spot_price_is_priced_on_demand_and_said_so():
    cost = run_cost(instances("core", "c6i.2xlarge", 2, 3600, "SPOT"), TABLE, spot_prices={})

    assert cost["estimated_usd"] == pytest.approx(1.0)
    assert cost["breakdown"][0]["ec2_rate"] == "on-demand list price"
    assert cost["notes"] == ["no Spot price was read for c6i.2xlarge: priced at the on-demand EC2 rate, so the "
                             "estimate is an upper bound"]


@pytest.mark.parametrize(
    ("launched", "expected"),
    [
        (instances("primary", "m5.xlarge", 4, 5400), 1.5),  # 4 x 0.25 x 1.5 h
        (instances("primary", "m5.xlarge", 1, 72), 0.005),  # 0.25 x 0.02 h
        (instances("primary", "m5.xlarge", 1, 36), 0.0042),  # under a minute, billed a minute: 0.25 / 60
        ([*instances("primary", "m5.xlarge", 1, 0), *instances("core", "c6i.2xlarge", 2, 0)], 0.0208),  # 1.25 / 60
        ([], 0.0),  # nothing launched, nothing billed
    ],
)
def test_cost_by_hand(launched, expected):
    assert run_cost(launched, TABLE, spot_prices={})["estimated_usd"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("seconds", "billed_seconds"),
    [(0.3, 60), (59.9, 60), (60, 60), (61, 61), (61.5, 61.5)],
)
def test_each_instance_is_billed_per_second_with_a_one_minute_minimum(seconds, billed_seconds):
    # An emulated cluster lives a fraction of a second: it is still billed a minute per instance, never 0.
    launched = [*instances("primary", "m5.xlarge", 1, seconds), *instances("core", "c6i.2xlarge", 2, seconds)]
    cost = run_cost(launched, TABLE, spot_prices={})

    per_second = [0.25 / 3600, 2 * 0.5 / 3600]  # primary, core: count x (EC2 + EMR) hourly price, per second
    assert [line["usd"] for line in cost["breakdown"]] == [round(usd * billed_seconds, 4) for usd in per_second]
    assert cost["estimated_usd"] == round(sum(per_second) * billed_seconds, 4) > 0
    assert "per second with a one-minute minimum per instance" in cost["basis"]


def test_an_unknown_instance_type_makes_the_total_unknown_with_the_reason():
    launched = [*instances("primary", "m5.xlarge", 1, 3600), *instances("core", "x9.mega", 2, 3600, "SPOT")]

    cost = run_cost(launched, TABLE, spot_prices={"x9.mega": 0.3})

    assert cost["estimated_usd"] is None
    assert cost["reason"] == "no eu-west-1 price for x9.mega"
    assert cost["breakdown"][0]["usd"] == pytest.approx(0.25)
    assert cost["breakdown"][1]["usd"] is None and cost["breakdown"][1]["emr_hourly_usd"] is None


def test_unknown_cost_has_the_same_keys_as_an_estimate():
    unknown = unknown_cost("no cluster")

    assert unknown.keys() == run_cost([], TABLE, {}).keys()
    assert unknown["estimated_usd"] is None and unknown["reason"] == "no cluster"


def test_the_eu_west_1_table_ships_as_package_data():
    table = load_price_table("eu-west-1")

    assert table is not None
    assert (table.region, table.currency) == ("eu-west-1", "USD")
    dt.date.fromisoformat(table.as_of)
    for name, price in table.instances.items():
        assert 0 < price.emr < price.ec2 < 2, name  # the EMR uplift is a fraction of the EC2 price


def test_no_table_for_another_region():
    assert load_price_table("us-east-1") is None
