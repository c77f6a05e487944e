"""`make prices`: the functions' price table of a region (`lambdas/orchard_functions/prices/<region>.json`), fetched
from the AWS Price List API, never typed.

For each instance type, two GetProducts queries (AWS Price List API Reference, GetProducts,
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html), each term an exact
match (`TERM_MATCH`) on the product's attributes:

- EC2 (`AmazonEC2`): the On-Demand price of the type in the region, for Linux with no pre-installed software on
  shared tenancy (`operatingSystem` Linux, `preInstalledSw` NA, `tenancy` Shared, `capacitystatus` Used: the
  price of a running instance rather than of a reservation, `operation` RunInstances: no licence);
- EMR (`ElasticMapReduce`): the EMR uplift on that type (`productFamily` "Elastic Map Reduce Instance",
  `softwareType` EMR).

Each answer's `PriceList` holds products as JSON documents (format `aws_v1`): `product.attributes`, and
`terms.OnDemand.<offer term>.priceDimensions.<rate>.pricePerUnit.USD` with the dimension's `unit` ("Hrs" for an
instance-hour), as the API's own example answer shows (botocore's `pricing/2017-10-15/examples-1.json`, GetProducts).
The API has two endpoints, https://api.pricing.us-east-1.amazonaws.com and https://api.pricing.ap-south-1.amazonaws.com
("AWS Price List Service API provides the following two endpoints", the service's API documentation), which price
every region: the client is made for us-east-1.

Run with the credentials of an account (the IAM action `pricing:GetProducts`, which takes no resource); the table
records when and from where it was fetched.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import boto3

from orchard_local import template as t

PRICING_REGION: Final = "us-east-1"
TABLES: Final = t.ROOT / "lambdas" / "orchard_functions" / "prices"
EC2_ATTRIBUTES: Final = {"operatingSystem": "Linux", "preInstalledSw": "NA", "tenancy": "Shared",
                         "capacitystatus": "Used", "operation": "RunInstances"}
EMR_ATTRIBUTES: Final = {"productFamily": "Elastic Map Reduce Instance", "softwareType": "EMR"}
SERVICES: Final = {"ec2": ("AmazonEC2", EC2_ATTRIBUTES), "emr": ("ElasticMapReduce", EMR_ATTRIBUTES)}


class PriceNotFound(Exception):
    """The Price List has no single On-Demand hourly price for a product asked for."""


def product_filters(attributes: Mapping[str, str]) -> list[dict[str, str]]:
    """GetProducts' Filters: every attribute an exact match."""
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in attributes.items()]


def hourly_usd(product: Mapping[str, Any]) -> set[float]:
    """The On-Demand hourly USD prices of one Price List product (a product has one offer term and one price
    dimension per rate; all are collected, so that a product with two different prices is noticed)."""
    return {float(dimension["pricePerUnit"]["USD"])
            for term in product.get("terms", {}).get("OnDemand", {}).values()
            for dimension in term["priceDimensions"].values() if dimension["unit"] == "Hrs"}


def products(pricing: Any, service_code: str, attributes: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every product GetProducts answers for the attributes, all pages. `pricing`: a boto3 Pricing client."""
    pages = pricing.get_paginator("get_products").paginate(ServiceCode=service_code, FormatVersion="aws_v1",
                                                          Filters=product_filters(attributes))
    return [json.loads(document) for page in pages for document in page["PriceList"]]


def fetch_price(pricing: Any, service: str, region: str, instance_type: str) -> float:
    """The On-Demand hourly USD price of the type in the region, for "ec2" or "emr", or PriceNotFound."""
    service_code, attributes = SERVICES[service]
    found = set().union(*(hourly_usd(product) for product in products(
        pricing, service_code, {"regionCode": region, "instanceType": instance_type, **attributes})))
    if len(found) != 1:
        raise PriceNotFound(f"{service_code} {instance_type} in {region}: "
                            f"{'no On-Demand hourly price' if not found else f'several prices {sorted(found)}'}")
    return found.pop()


def price_table(pricing: Any, region: str, instance_types: Iterable[str], now: datetime) -> dict[str, Any]:
    """The region's table, as `orchard_functions.costs.load_price_table` reads it, for these types."""
    return {
        "region": region,
        "currency": "USD",
        "unit": "per instance-hour",
        "as_of": now.date().isoformat(),
        "source": (f"AWS Price List API, GetProducts at api.pricing.{PRICING_REGION}.amazonaws.com, fetched "
                   f"{now.isoformat(timespec='seconds')} by `make prices`: EC2 On-Demand Linux (AmazonEC2) and the "
                   "EMR uplift (ElasticMapReduce). Spot, Savings Plans, EBS, S3 and data transfer are not in it."),
        "instances": {instance_type: {"ec2": fetch_price(pricing, "ec2", region, instance_type),
                                      "emr": fetch_price(pricing, "emr", region, instance_type)}
                      for instance_type in sorted(set(instance_types))},
    }


def default_instance_types() -> set[str]:
    """The types the template's fleets list by default."""
    parameters = t.template()["Parameters"]
    return {name for parameter in ("PrimaryInstanceTypes", "CoreInstanceTypes")
            for name in parameters[parameter]["Default"].split(",")}


def table_path(region: str) -> Path:
    return TABLES / f"{region}.json"


def table_types(region: str) -> set[str]:
    """The types the region's table prices now, if it has one."""
    path = table_path(region)
    return set(json.loads(path.read_text())["instances"]) if path.is_file() else set()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="eu-west-1", help="the region to price (default: eu-west-1)")
    parser.add_argument("--types", nargs="*", default=[],
                        help="instance types to add to those the table and the template's fleets already have")
    args = parser.parse_args(argv)
    types = table_types(args.region) | default_instance_types() | set(args.types)
    pricing = boto3.client("pricing", region_name=PRICING_REGION)
    try:
        table = price_table(pricing, args.region, types, datetime.now(UTC))
    except PriceNotFound as error:
        print(f"make prices: {error}", file=sys.stderr)
        return 1
    table_path(args.region).write_text(json.dumps(table, indent=2) + "\n")
    print(f"{table_path(args.region).relative_to(t.ROOT)}: {len(table['instances'])} instance types, "
          f"{table['as_of']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
