"""`make demo`: one whole Orchard workflow on this machine, AWS played by moto.

A MINI manifest and a generated sample of images are uploaded to (moto's) inputs bucket; the
upload event starts the real state machine; the EMR step runs the real feature job in local Spark;
the outputs are checked and the metrics recorded by the real functions; the cluster ends
terminated. Printed: each state as the Step Functions console lists it, then the run's summary.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from orchard_features.cli import spark_session
from orchard_features.progress import Progress
from orchard_features.settings import DEFAULT_MODEL_CACHE
from orchard_functions.costs import LaunchedInstance, load_price_table, run_cost
from orchard_local.account import REGION
from orchard_local.emr_sync import EmrBehaviour
from orchard_local.job_demo import demo_arguments, imagenet_available, lay_out_sample
from orchard_local.spark_step import SparkStep, download_prefix, upload_folder
from orchard_local.stack import FINISHED, MOTO_CONFIG, Execution, LocalStack, StateRun, deployed

# What a real cluster bills before the step can start: provisioning and the bootstrap action
# (typically 5-8 minutes, plus the bootstrap's 1-2): an assumption, said where it is used.
AWS_STARTUP_MINUTES = 9


def state_line(state: StateRun, started: Any) -> str:
    offset = (state.entered - started).total_seconds()
    duration = (state.exited - state.entered).total_seconds() if state.exited else 0.0
    attempts = f" ({state.attempts} attempts)" if state.attempts > 1 else ""
    return f"  {state.name:<42} +{offset:7.1f} s {duration:8.1f} s   {state.status}{attempts}"


def watch(stack: LocalStack, execution_arn: str, console: Any) -> Execution:
    """Print each state as it ends, as the console's graph view fills in; the finished execution."""
    shown = 0
    print(f"  {'state':<42} {'start':>9} {'duration':>10}   status", file=console, flush=True)
    while True:
        execution = stack.snapshot(execution_arn)
        finished = execution.status in FINISHED
        done = execution.states if finished else [state for state in execution.states if state.exited]
        for state in done[shown:]:
            print(state_line(state, execution.states[0].entered), file=console, flush=True)
        shown = len(done)
        if finished:
            return execution
        time.sleep(0.5)


def demo_closing_lines(execution: Execution, report: Path, local_seconds: float) -> list[str]:
    """The run's figures, and what the same work would cost on AWS."""
    summary = execution.output["summary"]
    counts, outputs = summary["counts"], execution.output["outputs"]
    table = load_price_table("eu-west-1")
    assert table is not None, "orchard_functions ships the eu-west-1 prices"
    lines = summary["cost"]["breakdown"]  # the instances the fleets launched
    seconds_on_aws = AWS_STARTUP_MINUTES * 60 + summary["cluster"]["seconds"]
    launched_at = datetime.fromisoformat(summary["cluster"]["created_at"])
    on_aws = run_cost([LaunchedInstance(role=line["role"], type=line["type"], market=line["market"],
                                        launched_at=launched_at, seconds=seconds_on_aws)
                       for line in lines for _ in range(line["count"])], table, spot_prices={})
    cluster = " + ".join(f"{line['count']} x {line['type']}" for line in lines)
    return [
        f"Run {summary['run_id']}: {summary['status']} in {local_seconds:.0f} s",
        f"  images      read {counts['images_read']}, featurized {counts['images_featurized']}, "
        f"reused {counts['images_reused']} (from the feature store), failed {counts['images_failed']} "
        "(reasons in errors/)",
        f"  throughput  {summary['images_per_minute']:.0f} images/min over the EMR step "
        f"({summary['step']['seconds']:.1f} s, local Spark on this machine)",
        f"  PCA         k={outputs['pca_components']}: "
        f"{100 * outputs['explained_variance_total']:.1f} % of the variance"
        + ("   (random weights: NOT ImageNet)" if outputs["weights_are_random"] else ""),
        f"  cost        {summary['cost']['estimated_usd']:.3f} USD as recorded ({cluster} for this cluster's "
        f"{summary['cluster']['seconds']:.0f} s, billed per second with a one-minute minimum, "
        f"eu-west-1 list prices of {table.as_of})",
        f"              about {on_aws['estimated_usd']:.2f} USD on AWS, which also bills about {AWS_STARTUP_MINUTES} "
        "minutes of provisioning and bootstrap per cluster",
        f"  outputs     {summary['output_uri']} (mirrored in {report.parent.parent})",
        f"  report      {report}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = demo_arguments(__doc__.splitlines()[0], argv)
    work = Path(args.work_dir).resolve()
    console, progress = sys.stderr, Progress()
    shutil.rmtree(work / "s3", ignore_errors=True)
    sample, manifest_copy = lay_out_sample(work, args.manifest, progress)
    manifest = json.loads(manifest_copy.read_text())
    spark = spark_session("orchard-demo-emr-step", args.verbose)
    if not imagenet_available(224, "onnxruntime", DEFAULT_MODEL_CACHE, progress, args.verbose):
        manifest["job"] = {**manifest.get("job", {}), "weights": "none"}
    started = time.monotonic()
    logs = work / "lambda-logs.jsonl"
    step = SparkStep(spark, work / "s3", progress,
                     adjust_settings=lambda settings: replace(settings, verbose=args.verbose))
    try:
        # The functions log (and print EMF metrics) to stdout, as in Lambda: into a file here.
        with logs.open("w") as log, contextlib.redirect_stdout(log), mock_aws(config=MOTO_CONFIG), \
                deployed(EmrBehaviour(run_step=step)) as stack:
            inputs = stack.names["InputsBucket"]
            s3 = boto3.client("s3", region_name=REGION)  # the person running the demo
            upload_folder(s3, sample.root, f"s3://{inputs}/fruits-360/")
            key = f"manifests/{Path(args.manifest).name}"
            (started_execution,) = stack.publish(stack.upload_manifest(key, manifest))
            progress.say(f"Uploaded s3://{inputs}/{key}: the upload event started execution "
                         f"{started_execution['execution_name']}\n")
            watch(stack, started_execution["execution_arn"], console)
            execution = stack.wait(started_execution["execution_arn"])  # and its end event reaches the clean-up
            clusters = stack.cluster_states()
            run_prefix = f"s3://{stack.names['OutputsBucket']}/runs/"
            download_prefix(s3, run_prefix, work / "s3" / stack.names["OutputsBucket"] / "runs")  # summary, manifest
    finally:
        spark.stop()
    progress.say(f"\nCluster {', '.join(f'{cid} {state}' for cid, state in clusters.items())}; "
                 f"function logs (JSON, EMF metrics) in {logs}")
    if execution.status != "SUCCEEDED":
        progress.say(f"Execution {execution.status}: {execution.error}: {execution.cause}")
        return 1
    output_uri = execution.output["summary"]["output_uri"]
    bucket, prefix = output_uri.removeprefix("s3://").split("/", 1)
    report = work / "s3" / bucket / prefix / "report" / "index.html"
    print("\n".join(demo_closing_lines(execution, report, time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
