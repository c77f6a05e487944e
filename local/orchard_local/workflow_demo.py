"""`make demo`: one whole Orchard workflow on this machine, AWS played by moto.

A MINI manifest and a generated sample of images are uploaded to (moto's) inputs bucket; the
upload event starts the real state machine; the EMR step runs the real feature job in local Spark;
the outputs are checked and the metrics recorded by the real functions; the cluster ends
terminated. Printed: each state as the Step Functions console lists it, what the run would cost on AWS,
then `orchard runs` and `orchard show` for the run, as the `orchard` command prints them on a deployed stack.
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

import boto3
from moto import mock_aws

from orchard_cli.commands import print_runs, print_show
from orchard_cli.deployment import connect
from orchard_cli.follow import follow
from orchard_cli.views import console
from orchard_contract.run_outputs import REPORT_PAGE
from orchard_features.cli import spark_session
from orchard_features.progress import Progress
from orchard_features.settings import DEFAULT_MODEL_CACHE
from orchard_functions.costs import LaunchedInstance, load_price_table, run_cost
from orchard_local.account import REGION
from orchard_local.deployed import STACK_NAME
from orchard_local.emr_sync import EmrBehaviour
from orchard_local.job_demo import demo_arguments, imagenet_available, lay_out_sample
from orchard_local.spark_step import SparkStep, download_prefix, upload_folder
from orchard_local.stack import MOTO_CONFIG, Execution, deployed

# What a real cluster bills before the step can start: provisioning (5-8 minutes, assumed), the bootstrap action
# (about 20 s) and Step Functions' poll of the cluster (up to a minute): docs/performance.md, "FULL on the default
# cluster, end to end". An assumption, said where it is used.
AWS_STARTUP_MINUTES = 9
POLL_SECONDS = 0.5


def demo_closing_lines(execution: Execution, report: Path, local_seconds: float) -> list[str]:
    """How long the run took here, what the same cluster would cost on AWS, where the report is on this machine."""
    summary = execution.output["summary"]
    table = load_price_table("eu-west-1")
    assert table is not None, "orchard_functions ships the eu-west-1 prices"
    lines = summary["cost"]["breakdown"]  # the instances the fleets launched
    seconds_on_aws = AWS_STARTUP_MINUTES * 60 + summary["cluster"]["seconds"]
    launched_at = datetime.fromisoformat(summary["cluster"]["created_at"])
    on_aws = run_cost([LaunchedInstance(role=line["role"], type=line["type"], market=line["market"],
                                        launched_at=launched_at, seconds=seconds_on_aws)
                       for line in lines for _ in range(line["count"])], table, spot_prices={})
    return [
        f"Run {summary['run_id']}: {summary['status']} in {local_seconds:.0f} s on this machine "
        f"(local Spark played the EMR step: {summary['step']['seconds']:.1f} s)",
        f"  on AWS      about {on_aws['estimated_usd']:.2f} USD, which also bills about {AWS_STARTUP_MINUTES} minutes "
        "of provisioning and bootstrap per cluster",
        f"  report      {report} (the outputs mirrored from moto's S3)",
    ]


def main(argv: list[str] | None = None) -> int:
    args = demo_arguments(__doc__.splitlines()[0], argv)
    work = Path(args.work_dir).resolve()
    progress, out, states_out = Progress(), console(sys.stdout), console(sys.stderr)
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
            follow(stack.stepfunctions, started_execution["execution_arn"], states_out, POLL_SECONDS)
            execution = stack.wait(started_execution["execution_arn"])  # and its end event reaches the clean-up
            seconds = time.monotonic() - started
            clusters = stack.cluster_states()
            download_prefix(s3, f"s3://{stack.names['OutputsBucket']}/runs/",
                            work / "s3" / stack.names["OutputsBucket"] / "runs")  # summary, manifest
            progress.say(f"\nCluster {', '.join(f'{cid} {state}' for cid, state in clusters.items())}; "
                         f"function logs (JSON, EMF metrics) in {logs}")
            if execution.status == "SUCCEEDED":
                bucket, prefix = execution.output["summary"]["output_uri"].removeprefix("s3://").split("/", 1)
                report = work / "s3" / bucket / prefix / REPORT_PAGE
                out.print("\n".join(demo_closing_lines(execution, report, seconds)))
            else:
                progress.say(f"Execution {execution.status}: {execution.error}: {execution.cause}")
            # The orchard command's own functions, on the local stack found by its name as on AWS.
            deployment = connect(STACK_NAME, boto3.Session(region_name=REGION))
            run = execution.output["run"]["run_id"] if execution.output else execution.arn
            out.print("\n$ orchard runs")
            print_runs(deployment, out)
            out.print(f"\n$ orchard show {run}")
            print_show(deployment, out, run)
    finally:
        spark.stop()
    return 0 if execution.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
