"""The estimated cost of a run: instance time, billed per second, priced from a per-region table of list prices."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

PRICES_PACKAGE = "orchard_functions.prices"
# EMR and EC2 bill each instance per second, with a one-minute minimum: the Amazon EMR pricing page
# (https://aws.amazon.com/emr/pricing/; the EMR FAQ: per-second "with a one-minute minimum"), and per-second
# billing of EC2 On-Demand Linux instances, 60 seconds at least (https://aws.amazon.com/ec2/pricing/on-demand/).
MINIMUM_BILLED_SECONDS = 60.0
BASIS = (
    "instance count x (EC2 on-demand + EMR) hourly list price x the cluster's life (creation to end),"
    " billed per second with a one-minute minimum per instance; EBS, S3 and data transfer not included"
)
SPOT_NOTE = "SPOT instances are priced at the on-demand EC2 rate: the estimate is an upper bound"


@dataclass(frozen=True)
class InstancePrice:
    """Hourly prices of one instance type: EC2 on-demand (Linux) and the EMR uplift."""

    ec2: float
    emr: float


@dataclass(frozen=True)
class PriceTable:
    """One region's prices, as shipped in orchard_functions/prices/<region>.json."""

    region: str
    currency: str
    as_of: str
    instances: Mapping[str, InstancePrice]


@functools.cache
def load_price_table(region: str) -> PriceTable | None:
    """The price table shipped for `region`, or None if there is none."""
    resource = resources.files(PRICES_PACKAGE).joinpath(f"{region}.json")
    if not resource.is_file():
        return None
    doc = json.loads(resource.read_text(encoding="utf-8"))
    if doc["currency"] != "USD":
        raise ValueError(f"{resource.name}: prices in {doc['currency']}, the estimate is in USD")
    return PriceTable(
        region=doc["region"],
        currency=doc["currency"],
        as_of=doc["as_of"],
        instances={name: InstancePrice(ec2=p["ec2"], emr=p["emr"]) for name, p in doc["instances"].items()},
    )


def unknown_cost(reason: str) -> dict[str, Any]:
    """A cost that cannot be estimated, with the reason; same keys as `run_cost`."""
    return {
        "estimated_usd": None,
        "reason": reason,
        "basis": BASIS,
        "cluster_hours": None,
        "price_table": None,
        "breakdown": [],
        "notes": [],
    }


def billed_seconds(seconds: float) -> float:
    """The seconds billed for an instance that ran `seconds`: every second, and never less than a minute."""
    return max(MINIMUM_BILLED_SECONDS, seconds)


def run_cost(instances: Sequence[Mapping[str, Any]], cluster_seconds: float, table: PriceTable) -> dict[str, Any]:
    """The cost of a cluster: for each instance group, count x (EC2 + EMR hourly price) x the billed hours.

    `instances` are the run plan's groups ({"role", "type", "count", "market"}). Every instance is
    billed for the cluster's whole life (`billed_seconds`), and SPOT groups at the on-demand rate, so
    the estimate errs high. An instance type missing from the table makes the total None, with the reason.
    """
    hours = cluster_seconds / 3600
    billed_hours = billed_seconds(cluster_seconds) / 3600
    breakdown, missing, total = [], [], 0.0
    for group in instances:
        price = table.instances.get(group["type"])
        usd = group["count"] * (price.ec2 + price.emr) * billed_hours if price else None
        if usd is None:
            missing.append(group["type"])
        else:
            total += usd
        breakdown.append(
            {
                "role": group["role"],
                "type": group["type"],
                "count": group["count"],
                "market": group["market"],
                "ec2_hourly_usd": price.ec2 if price else None,
                "emr_hourly_usd": price.emr if price else None,
                "usd": None if usd is None else round(usd, 4),
            }
        )
    return {
        "estimated_usd": None if missing else round(total, 4),
        "reason": f"no {table.region} price for {', '.join(sorted(set(missing)))}" if missing else None,
        "basis": BASIS,
        "cluster_hours": round(hours, 4),
        "price_table": {"region": table.region, "currency": table.currency, "as_of": table.as_of},
        "breakdown": breakdown,
        "notes": [SPOT_NOTE] if any(group["market"] == "SPOT" for group in instances) else [],
    }
