"""`make prices` (orchard_local.prices): the price table generated from the AWS Price List API's answers, offline.

Each answer is built from the API's own example answer (botocore's `pricing/2017-10-15/examples-1.json`, GetProducts),
its one product made an EC2 instance's or an EMR uplift's; a real boto3 Pricing client is answered by botocore's
Stubber, which checks every request against the API's model."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from orchard_functions.costs import InstancePrice, parse_price_table
from orchard_local.prices import (
    EC2_ATTRIBUTES,
    EMR_ATTRIBUTES,
    PRICING_REGION,
    PriceNotFound,
    price_table,
    product_filters,
)

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
PRICES = {"m5.xlarge": (0.214, 0.048), "c6i.2xlarge": (0.384, 0.085)}  # EC2, EMR per hour


def example_product() -> dict[str, Any]:
    """The one product of the API's example answer to GetProducts."""
    loader = botocore.session.get_session().get_component("data_loader")
    (example,) = loader.load_service_model("pricing", "examples-1")["examples"]["GetProducts"]
    (document,) = example["output"]["PriceList"]
    return json.loads(document)


def product(service_code: str, instance_type: str, usd: float, unit: str = "Hrs") -> str:
    """The example product made one of `service_code`'s for the type, at `usd` per `unit`."""
    made = copy.deepcopy(example_product())
    made["serviceCode"] = made["product"]["attributes"]["servicecode"] = service_code
    made["product"]["attributes"].update(instanceType=instance_type, regionCode="eu-west-1")
    (term,) = made["terms"]["OnDemand"].values()
    (dimension,) = term["priceDimensions"].values()
    dimension.update(unit=unit, pricePerUnit={"USD": f"{usd:.10f}"})
    return json.dumps(made)


def request(service_code: str, attributes: dict[str, str], instance_type: str) -> dict[str, Any]:
    return {"ServiceCode": service_code, "FormatVersion": "aws_v1", "Filters": product_filters(
        {"regionCode": "eu-west-1", "instanceType": instance_type, **attributes})}


@pytest.fixture
def pricing():
    client = boto3.client("pricing", region_name=PRICING_REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def answer(stubber: Stubber, service_code: str, attributes: dict[str, str], instance_type: str,
           *documents: str) -> None:
    stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": list(documents)},
                         request(service_code, attributes, instance_type))


def test_the_table_holds_each_types_ec2_on_demand_and_emr_hourly_prices_and_says_when_and_whence(pricing):
    client, stubber = pricing
    for instance_type, (ec2, emr) in sorted(PRICES.items()):
        answer(stubber, "AmazonEC2", EC2_ATTRIBUTES, instance_type, product("AmazonEC2", instance_type, ec2))
        answer(stubber, "ElasticMapReduce", EMR_ATTRIBUTES, instance_type,
               product("ElasticMapReduce", instance_type, emr))

    table = price_table(client, "eu-west-1", PRICES, NOW)

    assert table["instances"] == {name: {"ec2": ec2, "emr": emr} for name, (ec2, emr) in PRICES.items()}
    assert (table["region"], table["currency"], table["as_of"]) == ("eu-west-1", "USD", "2026-12-07")
    assert "AWS Price List API" in table["source"] and "2026-12-07T09:30:00+00:00" in table["source"]
    parsed = parse_price_table(json.loads(json.dumps(table)))  # as the functions read it, from JSON
    assert parsed.instances["c6i.2xlarge"] == InstancePrice(ec2=0.384, emr=0.085)


@pytest.mark.parametrize(("documents", "problem"), [
    ((), "no On-Demand hourly price"),
    ((product("AmazonEC2", "m5.xlarge", 0.214, unit="GB-Mo"),), "no On-Demand hourly price"),
    ((product("AmazonEC2", "m5.xlarge", 0.214), product("AmazonEC2", "m5.xlarge", 0.3)), "several prices"),
])
def test_a_type_without_exactly_one_hourly_price_stops_the_table_naming_it(pricing, documents, problem):
    client, stubber = pricing
    answer(stubber, "AmazonEC2", EC2_ATTRIBUTES, "m5.xlarge", *documents)

    with pytest.raises(PriceNotFound, match=f"AmazonEC2 m5.xlarge in eu-west-1: {problem}"):
        price_table(client, "eu-west-1", ["m5.xlarge"], NOW)
