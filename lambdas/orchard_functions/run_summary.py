"""The run summary, `run_summary.json`: what a run read, produced, took and cost; the CloudWatch metrics of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from orchard_contract.run_links import run_links
from orchard_functions.costs import LaunchedInstance, PriceTable, run_cost, unknown_cost
from orchard_functions.emr_timelines import ClusterTimeline, StepTimeline

SUMMARY_VERSION = 1


def build_run_summary(
    *,
    status: str,
    execution_arn: str,
    execution_started_at: datetime,
    run: Mapping[str, Any] | None,
    outputs: Mapping[str, Any] | None,
    error: Mapping[str, Any] | None,
    cluster: ClusterTimeline | None,
    instances: Sequence[LaunchedInstance],
    step: StepTimeline | None,
    prices: PriceTable | None,
    spot_prices: Mapping[str, float],
    region: str,
    now: datetime,
) -> dict[str, Any]:
    """The run summary, ready for JSON: parts the run never reached are None.

    `run`, `outputs` and `error` are the execution state's `$.run`, `$.outputs` and `$.error`; `instances` what the
    cluster launched, priced with the table and, for Spot instances, `spot_prices`. An unfinished cluster or step
    counts to `now`.
    """
    cluster_seconds = _seconds(cluster.created_at, cluster.ended_at, now) if cluster else None
    step_seconds = _seconds(step.started_at, step.ended_at, now) if step and step.started_at else None
    counts = (
        {
            "images_read": outputs["images_read"],
            "images_featurized": outputs["featurized"],
            "images_reused": outputs["reused"],
            "images_failed": outputs["failed"],
        }
        if outputs
        else None
    )
    return {
        "summary_version": SUMMARY_VERSION,
        "status": status,
        "run_id": run["run_id"] if run else None,
        "name": run["name"] if run else None,
        "execution_arn": execution_arn,
        "execution_started_at": _iso(execution_started_at),
        "recorded_at": _iso(now),
        "output_uri": run["output_uri"] if run else None,
        "counts": counts,
        "cluster": _timeline_part(cluster, cluster_seconds) if cluster else None,
        "step": _timeline_part(step, step_seconds) if step else None,
        "images_per_minute": round(60 * counts["images_read"] / step_seconds, 1) if counts and step_seconds else None,
        "pca": (
            {"components": outputs["pca_components"], "explained_variance_total": outputs["explained_variance_total"]}
            if outputs
            else None
        ),
        "model": (
            {"weights": outputs.get("weights"), "weights_are_random": outputs.get("weights_are_random")}
            if outputs
            else None
        ),
        "cluster_time": _cluster_time(cluster, cluster_seconds, step_seconds, now) if cluster else None,
        "cost": _receipt(_cost(cluster, instances, prices, spot_prices, region), counts,
                         outputs.get("feature_seconds") if outputs else None, cluster_seconds),
        "error": dict(error) if error else None,
        "links": run_links(region=region, execution_arn=execution_arn, log_uri=run["log_uri"] if run else None,
                           cluster_id=cluster.id if cluster else None, step_id=step.id if step else None),
    }


def metric_values(summary: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """The summary's CloudWatch metrics as (name, unit, value): run succeeded/failed, and only what is known."""
    succeeded = summary["status"] == "SUCCEEDED"
    values: list[tuple[str, str, float]] = [
        ("RunSucceeded", "Count", int(succeeded)),
        ("RunFailed", "Count", int(not succeeded)),
    ]
    if counts := summary["counts"]:
        values += [
            ("ImagesRead", "Count", counts["images_read"]),
            ("ImagesFeaturized", "Count", counts["images_featurized"]),
            ("ImagesReused", "Count", counts["images_reused"]),
            ("ImagesFailed", "Count", counts["images_failed"]),
        ]
    if summary["step"] and summary["step"]["seconds"] is not None:
        values.append(("StepSeconds", "Seconds", summary["step"]["seconds"]))
    if summary["cluster"]:
        values.append(("ClusterSeconds", "Seconds", summary["cluster"]["seconds"]))
    if summary["images_per_minute"] is not None:
        values.append(("ImagesPerMinute", "None", summary["images_per_minute"]))
    if summary["cost"]["estimated_usd"] is not None:
        values.append(("EstimatedCostUSD", "None", summary["cost"]["estimated_usd"]))
    if summary["pca"]:
        values.append(("ExplainedVariance", "Percent", round(100 * summary["pca"]["explained_variance_total"], 2)))
    return values


def _timeline_part(timeline: ClusterTimeline | StepTimeline, seconds: float | None) -> dict[str, Any]:
    """A cluster's or a step's record: its fields as JSON (times as ISO strings) and its duration."""
    fields = {name: _iso(value) if name.endswith("_at") else value for name, value in vars(timeline).items()}
    return fields | {"seconds": seconds}


def _cost(cluster: ClusterTimeline | None, instances: Sequence[LaunchedInstance], prices: PriceTable | None,
          spot_prices: Mapping[str, float], region: str) -> dict[str, Any]:
    if cluster is None:
        return unknown_cost("no EMR cluster id in the execution state (none created, or its creation failed)")
    if prices is None:
        return unknown_cost(f"no price table for region {region}")
    return run_cost(instances, prices, spot_prices)


def _cluster_time(cluster: ClusterTimeline, cluster_seconds: float | None, step_seconds: float | None,
                  now: datetime) -> dict[str, float | None]:
    """Where the cluster's life went: provisioning and bootstrap (creation to ready), the step, and the rest (waiting
    for the step, termination); each None until known."""
    ready = _seconds(cluster.created_at, cluster.ready_at, now) if cluster.ready_at else None
    rest = (round(cluster_seconds - ready - step_seconds, 1)
            if cluster_seconds is not None and ready is not None and step_seconds is not None else None)
    return {"provisioning_and_bootstrap_seconds": ready, "step_seconds": step_seconds, "other_seconds": rest}


def _receipt(cost: dict[str, Any], counts: Mapping[str, int] | None, feature_seconds: float | None,
             cluster_seconds: float | None) -> dict[str, Any]:
    """The cost with its price per 1,000 images featurized, and what reusing the feature store's images saved.

    The saving is estimated from this run's own rate: the feature stage's seconds per image featurized, times the
    images reused, is the cluster time they would have taken, priced at the cluster's cost per second of its life.
    Unknown (None) when the run featurized nothing to measure the rate by, or a figure is missing."""
    usd = cost["estimated_usd"]
    featurized = counts["images_featurized"] if counts else 0
    reused = counts["images_reused"] if counts else 0
    per_thousand = round(1000 * usd / featurized, 4) if usd is not None and featurized else None
    saved_seconds = (round(reused * feature_seconds / featurized, 1)
                     if featurized and feature_seconds is not None else None)
    saved_usd = (round(saved_seconds * usd / cluster_seconds, 4)
                 if saved_seconds is not None and usd is not None and cluster_seconds else None)
    return cost | {"usd_per_1000_images": per_thousand,
                   "reuse_saved": {"images": reused, "cluster_seconds": saved_seconds, "usd": saved_usd}}


def _seconds(start: datetime, end: datetime | None, now: datetime) -> float:
    return round(((end or now) - start).total_seconds(), 1)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
