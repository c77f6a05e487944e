"""The estimated cost of a run: the time of each instance launched, billed per second, priced from a per-region table
of list prices and, for Spot instances, the Spot price."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Literal

PRICES_PACKAGE = "orchard_functions.prices"
# EMR and EC2 bill each instance per second, with a one-minute minimum: the Amazon EMR pricing page
# (https://aws.amazon.com/emr/pricing/; the EMR FAQ: per-second "with a one-minute minimum"), and per-second
# billing of EC2 On-Demand Linux instances, 60 seconds at least (https://aws.amazon.com/ec2/pricing/on-demand/).
MINIMUM_BILLED_SECONDS = 60.0
BASIS = (
    "each instance EMR launched (ListInstances) x (EC2 + EMR) hourly price x its life (creation to end), billed per"
    " second with a one-minute minimum per instance; EC2 at the on-demand list price, or for a Spot instance at the"
    " Spot price of its type in the cluster's Availability Zone when it was launched; EBS, S3 and data transfer not"
    " included"
)
SPOT_AT_ON_DEMAND_NOTE = ("no Spot price was read for {types}: priced at the on-demand EC2 rate, so the estimate is an"
                          " upper bound")
ON_DEMAND_RATE, SPOT_RATE = "on-demand list price", "Spot price at launch"


@dataclass(frozen=True)
class LaunchedInstance:
    """One instance EMR launched for the cluster, and how long it lived."""

    role: str  # primary or core
    type: str
    market: Literal["ON_DEMAND", "SPOT"]
    launched_at: datetime
    seconds: float


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
    return parse_price_table(json.loads(resource.read_text(encoding="utf-8")))


def parse_price_table(doc: Mapping[str, Any]) -> PriceTable:
    """A price table document (as `make prices` writes it) as a PriceTable; prices in USD only."""
    if doc["currency"] != "USD":
        raise ValueError(f"{doc['region']}: prices in {doc['currency']}, the estimate is in USD")
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
        "billed_instance_hours": None,
        "price_table": None,
        "breakdown": [],
        "notes": [],
    }


def billed_seconds(seconds: float) -> float:
    """The seconds billed for an instance that ran `seconds`: every second, and never less than a minute."""
    return max(MINIMUM_BILLED_SECONDS, seconds)


def run_cost(instances: Sequence[LaunchedInstance], table: PriceTable,
             spot_prices: Mapping[str, float]) -> dict[str, Any]:
    """The cost of the instances a cluster launched, one line per fleet role, instance type and market.

    Each instance is billed for its own life (`billed_seconds`) at its type's EMR price plus its EC2 price: the
    on-demand list price, or for SPOT the hourly Spot price in `spot_prices` (a type missing there is priced
    on-demand, and noted). An instance type missing from the table makes the total None, with the reason.
    """
    lines: dict[tuple[str, str, str], list[LaunchedInstance]] = {}
    for instance in instances:
        lines.setdefault((instance.role, instance.type, instance.market), []).append(instance)
    breakdown, missing, unpriced_spot, total, all_seconds = [], set(), set(), 0.0, 0.0
    for (role, instance_type, market), launched in lines.items():
        price = table.instances.get(instance_type)
        seconds = sum(billed_seconds(instance.seconds) for instance in launched)
        all_seconds += seconds
        spot = spot_prices.get(instance_type) if market == "SPOT" else None
        if market == "SPOT" and spot is None:
            unpriced_spot.add(instance_type)
        ec2 = spot if spot is not None else price.ec2 if price else None
        usd = (ec2 + price.emr) * seconds / 3600 if price and ec2 is not None else None
        if usd is None:
            missing.add(instance_type)
        else:
            total += usd
        breakdown.append({
            "role": role,
            "type": instance_type,
            "market": market,
            "count": len(launched),
            "billed_seconds": round(seconds, 1),
            "ec2_hourly_usd": ec2,
            "ec2_rate": SPOT_RATE if spot is not None else ON_DEMAND_RATE,
            "emr_hourly_usd": price.emr if price else None,
            "usd": None if usd is None else round(usd, 4),
        })
    return {
        "estimated_usd": None if missing else round(total, 4),
        "reason": f"no {table.region} price for {', '.join(sorted(missing))}" if missing else None,
        "basis": BASIS,
        "billed_instance_hours": round(all_seconds / 3600, 4),
        "price_table": {"region": table.region, "currency": table.currency, "as_of": table.as_of},
        "breakdown": breakdown,
        "notes": [SPOT_AT_ON_DEMAND_NOTE.format(types=", ".join(sorted(unpriced_spot)))] if unpriced_spot else [],
    }
