"""The Spot price of the instance types a cluster launched on Spot, in its Availability Zone, when launched."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

# Linux instances, in a VPC or not (DescribeSpotPriceHistory's ProductDescriptions; EMR's nodes run Amazon Linux).
LINUX: Final = ["Linux/UNIX", "Linux/UNIX (Amazon VPC)"]


def spot_prices_at(ec2: Any, instance_types: Iterable[str], zone: str, moment: datetime) -> dict[str, float]:
    """Each type's hourly Spot price in `zone` in effect at `moment`; a type without a price is left out.

    A DescribeSpotPriceHistory whose StartTime and EndTime are both `moment` answers the price in effect then: the
    history "returns the last price change before the start time, which is the effective price as of the start time"
    (EC2 API Reference, DescribeSpotPriceHistory,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSpotPriceHistory.html). `ec2`: a boto3 EC2
    client.
    """
    types = sorted(set(instance_types))
    if not types:
        return {}
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=types, ProductDescriptions=LINUX, AvailabilityZone=zone, StartTime=moment, EndTime=moment)
    latest: dict[str, tuple[datetime, float]] = {}
    for page in pages:
        for entry in page["SpotPriceHistory"]:
            if entry.get("AvailabilityZone") != zone:
                continue
            seen = latest.get(entry["InstanceType"])
            if seen is None or entry["Timestamp"] > seen[0]:
                latest[entry["InstanceType"]] = (entry["Timestamp"], float(entry["SpotPrice"]))
    return {instance_type: price for instance_type, (_, price) in latest.items()}
