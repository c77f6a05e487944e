"""Record metrics: the run summary (pure), and the handler against moto EMR and S3 with its EMF document.

moto never advances an EMR step (a step added after creation stays RUNNING with no start or end
time) and stamps the cluster's times with the moment of the call. `set_timeline` sets those times
and the step's state on moto's own cluster and step objects, so DescribeCluster and ListSteps
return the timeline of a real run; nothing else of moto is touched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto.emr.models import emr_backends
from pydantic import ValidationError

from orchard_functions.costs import LaunchedInstance, load_price_table
from orchard_functions.emr_timelines import ClusterTimeline, StepTimeline
from orchard_functions.run_summary import build_run_summary, metric_values
from orchard_local.account import ACCOUNT, OUTPUTS_BUCKET, REGION, example_run
from orchard_local.emr_fleets import FleetLaunch, instance_fleet_filter, launch_fleets

EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:orchard-pipeline:run-1"
STARTED = datetime(2026, 11, 27, 20, 58, tzinfo=UTC)
CREATED = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
RUN_ID = "mini-20261127T205800Z-1a2b3c4d"
RUN = example_run(RUN_ID, pca_components=50)
OUTPUTS = {
    "images_read": 1000,
    "featurized": 90,
    "reused": 900,
    "failed": 10,
    "pca_components": 50,
    "explained_variance_total": 0.8125,
    "feature_seconds": 900.0,
    "weights": "imagenet",
    "weights_are_random": False,
}
STEP_FAILED = {"Error": "States.TaskFailed", "Cause": "Step s-1 failed: Spark exited with code 1"}


SPOT_PRICE = 0.00001  # what moto's DescribeSpotPriceHistory answers for every type and zone


def hourly(instance_type: str, spot: float | None = None) -> float:
    price = load_price_table("eu-west-1").instances[instance_type]
    return (price.ec2 if spot is None else spot) + price.emr


# Half an hour of the m5.xlarge primary and the two c6i.2xlarge Spot core nodes the fleets launched, from the shipped
# table and the Spot price.
HALF_HOUR_COST = round(0.5 * (hourly("m5.xlarge") + 2 * hourly("c6i.2xlarge", SPOT_PRICE)), 4)
LAUNCHED = [LaunchedInstance("primary", "m5.xlarge", "ON_DEMAND", CREATED, 1800.0),
            *[LaunchedInstance("core", "c6i.2xlarge", "SPOT", CREATED, 1800.0)] * 2]


# --- the summary, pure -------------------------------------------------------------------------


def run_summary(**overrides):
    arguments = {
        "status": "SUCCEEDED",
        "execution_arn": EXECUTION_ARN,
        "execution_started_at": STARTED,
        "run": RUN,
        "outputs": OUTPUTS,
        "error": None,
        "cluster": ClusterTimeline("j-1", "TERMINATED", CREATED, CREATED + timedelta(minutes=4),
                                   CREATED + timedelta(minutes=30), "eu-west-1a"),
        "instances": LAUNCHED,
        "step": StepTimeline("s-1", "COMPLETED", CREATED + timedelta(minutes=5), CREATED + timedelta(minutes=25)),
        "prices": load_price_table("eu-west-1"),
        "spot_prices": {"c6i.2xlarge": SPOT_PRICE},
        "region": "eu-west-1",
        "now": CREATED + timedelta(minutes=31),
    }
    return build_run_summary(**{**arguments, **overrides})


def test_summary_of_a_successful_run():
    summary = run_summary()

    assert summary["status"] == "SUCCEEDED"
    assert (summary["run_id"], summary["name"], summary["execution_arn"]) == (RUN_ID, "mini", EXECUTION_ARN)
    assert summary["execution_started_at"] == "2026-11-27T20:58:00.000Z"
    assert summary["recorded_at"] == "2026-11-27T21:31:00.000Z"
    assert summary["counts"] == {"images_read": 1000, "images_featurized": 90, "images_reused": 900, "images_failed": 10}
    assert summary["cluster"] == {
        "id": "j-1",
        "state": "TERMINATED",
        "created_at": "2026-11-27T21:00:00.000Z",
        "ready_at": "2026-11-27T21:04:00.000Z",
        "ended_at": "2026-11-27T21:30:00.000Z",
        "zone": "eu-west-1a",
        "seconds": 1800.0,
    }
    # the cluster's half hour: 4 minutes to provision and bootstrap, the 20-minute step, 6 minutes besides
    assert summary["cluster_time"] == {"provisioning_and_bootstrap_seconds": 240.0, "step_seconds": 1200.0,
                                       "other_seconds": 360.0}
    assert summary["step"]["seconds"] == 1200.0
    assert summary["images_per_minute"] == 50.0  # 1000 images in 20 minutes of step
    assert summary["pca"] == {"components": 50, "explained_variance_total": 0.8125}
    assert summary["model"] == {"weights": "imagenet", "weights_are_random": False}
    assert summary["cost"]["estimated_usd"] == pytest.approx(HALF_HOUR_COST)
    assert summary["cost"]["usd_per_1000_images"] == round(1000 * HALF_HOUR_COST / 90, 4)
    # 900 images reused: at this run's 10 s of feature stage per image featurized (900 s for 90), 9,000 s of the
    # cluster, priced at its cost per second of its 1,800 s life
    assert summary["cost"]["reuse_saved"] == {"images": 900, "cluster_seconds": 9000.0,
                                              "usd": round(9000 * HALF_HOUR_COST / 1800, 4)}
    assert summary["cost"]["price_table"]["region"] == "eu-west-1"
    assert summary["error"] is None
    assert summary["links"] == {
        "execution_console": f"https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{EXECUTION_ARN}",
        "cluster_console": "https://eu-west-1.console.aws.amazon.com/emr/home?region=eu-west-1#/clusterDetails/j-1",
        "cluster_logs": f"s3://orchard-logs-local/emr/{RUN_ID}/j-1/",
        "step_logs": f"s3://orchard-logs-local/emr/{RUN_ID}/j-1/steps/s-1/",
    }
    json.dumps(summary)


def test_metrics_of_a_successful_run():
    assert metric_values(run_summary()) == [
        ("RunSucceeded", "Count", 1),
        ("RunFailed", "Count", 0),
        ("ImagesRead", "Count", 1000),
        ("ImagesFeaturized", "Count", 90),
        ("ImagesReused", "Count", 900),
        ("ImagesFailed", "Count", 10),
        ("StepSeconds", "Seconds", 1200.0),
        ("ClusterSeconds", "Seconds", 1800.0),
        ("ImagesPerMinute", "None", 50.0),
        ("EstimatedCostUSD", "None", HALF_HOUR_COST),
        ("ExplainedVariance", "Percent", 81.25),
    ]


def test_a_failure_before_the_run_plan_has_only_the_failure():
    summary = run_summary(
        status="FAILED",
        run=None,
        outputs=None,
        cluster=None,
        step=None,
        error={"Error": "ManifestInvalid", "Cause": "pca_components: must be >= 2"},
    )

    assert summary["run_id"] is None and summary["counts"] is None and summary["cluster"] is None
    assert summary["cost"]["estimated_usd"] is None and "no EMR cluster" in summary["cost"]["reason"]
    assert summary["cluster_time"] is None and summary["cost"]["usd_per_1000_images"] is None
    assert summary["error"] == {"Error": "ManifestInvalid", "Cause": "pca_components: must be >= 2"}
    assert metric_values(summary) == [("RunSucceeded", "Count", 0), ("RunFailed", "Count", 1)]
    links = summary["links"]
    assert links["execution_console"].endswith(f"#/v2/executions/details/{EXECUTION_ARN}")
    assert (links["cluster_console"], links["cluster_logs"], links["step_logs"]) == (None, None, None)


def test_an_unfinished_cluster_and_step_count_to_now():
    now = CREATED + timedelta(minutes=40)
    summary = run_summary(
        cluster=ClusterTimeline("j-1", "RUNNING", CREATED, CREATED + timedelta(minutes=4), None, "eu-west-1a"),
        step=StepTimeline("s-1", "RUNNING", CREATED + timedelta(minutes=10), None),
        now=now,
    )

    assert summary["cluster"]["ended_at"] is None and summary["cluster"]["seconds"] == 2400.0
    assert summary["step"]["seconds"] == 1800.0


def test_a_step_that_never_started_has_no_seconds_and_no_throughput():
    summary = run_summary(step=StepTimeline("s-1", "CANCELLED", None, None))

    assert summary["step"]["seconds"] is None and summary["images_per_minute"] is None
    assert "StepSeconds" not in {name for name, _, _ in metric_values(summary)}


def test_no_price_table_for_the_region_gives_no_cost_and_says_why():
    summary = run_summary(prices=None, region="us-east-1")

    assert summary["cost"]["estimated_usd"] is None
    assert summary["cost"]["reason"] == "no price table for region us-east-1"
    assert "EstimatedCostUSD" not in {name for name, _, _ in metric_values(summary)}


# --- the handler, with moto ---------------------------------------------------------------------


@pytest.fixture
def app(aws):
    from record_metrics import app

    with instance_fleet_filter():
        yield app


def first_listed_on_its_market(fleet: dict) -> FleetLaunch:
    return FleetLaunch(fleet["InstanceTypeConfigs"][0]["InstanceType"],
                       "SPOT" if fleet.get("TargetSpotCapacity") else "ON_DEMAND")


def create_cluster(run: dict = RUN, launch=first_listed_on_its_market) -> str:
    """A cluster with the run plan's fleets, launched as `launch` chooses, with its one step, as the state machine
    makes them."""
    emr = boto3.client("emr", region_name=REGION)
    instances = run["cluster"]["Instances"]
    cluster_id = emr.run_job_flow(
        Name=f"orchard-{RUN_ID}",
        ReleaseLabel="emr-7.5.0",
        Instances=instances,
        JobFlowRole="orchard-emr-instance-profile",
        ServiceRole="orchard-emr-service-role",
        Tags=[{"Key": "orchard:execution-arn", "Value": EXECUTION_ARN}],
    )["JobFlowId"]
    launch_fleets(ACCOUNT, REGION, cluster_id, instances["InstanceFleets"], launch)
    emr.add_job_flow_steps(
        JobFlowId=cluster_id,
        Steps=[
            {
                "Name": "Featurize images",
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "main.py"]},
            }
        ],
    )
    return cluster_id


def set_timeline(cluster_id, *, created, ended=None, step_state="RUNNING", step_started=None, step_ended=None):
    """Set the times moto reports (it keeps naive UTC datetimes) on its cluster and step objects."""
    naive = {"created": created, "ended": ended, "step_started": step_started, "step_ended": step_ended}
    naive = {name: moment and moment.astimezone(UTC).replace(tzinfo=None) for name, moment in naive.items()}
    cluster = emr_backends[ACCOUNT][REGION].clusters[cluster_id]
    cluster.creation_datetime = naive["created"]
    for instance in cluster.ec2_instances:  # launched with the cluster; ended with it (EMR stamps their ends)
        instance.instance_group.creation_date_time = naive["created"]
        instance.instance_group.end_date_time = naive["ended"]
    if ended:
        cluster.terminate()
        cluster.end_datetime = naive["ended"]
    (step,) = cluster.steps
    step.state = step_state
    step.start_date_time = naive["step_started"]
    step.end_date_time = naive["step_ended"]


def half_hour_cluster(step_state: str) -> str:
    """A cluster that lived 30 minutes, its step running from minute 5 to minute 25 and ending in `step_state`."""
    cluster_id = create_cluster()
    set_timeline(cluster_id, created=CREATED, ended=CREATED + timedelta(minutes=30), step_state=step_state,
                 step_started=CREATED + timedelta(minutes=5), step_ended=CREATED + timedelta(minutes=25))
    return cluster_id


def event(status, state):
    return {
        "status": status,
        "execution_arn": EXECUTION_ARN,
        "execution_started_at": "2026-11-27T20:58:00.000Z",
        "state": state,
    }


def emf_document(capsys) -> dict:
    """The one EMF document the handler printed (Logger's JSON lines are printed to stdout too)."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (document,) = [line for line in lines if "_aws" in line]
    return document


def metrics_in(document) -> dict[str, tuple[str, float]]:
    """{metric name: (unit, value)} of an EMF document, after checking its namespace and dimensions.

    Powertools writes each value as a list of the values added; each metric is added once.
    """
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Orchard"
    assert directive["Dimensions"] == [["service"]] and document["service"] == "orchard"
    values = {metric["Name"]: (metric["Unit"], document[metric["Name"]]) for metric in directive["Metrics"]}
    assert all(len(added) == 1 for _, added in values.values()), values
    return {name: (unit, added[0]) for name, (unit, added) in values.items()}


def stored_summary() -> dict:
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket=OUTPUTS_BUCKET, Key=f"runs/{RUN_ID}/run_summary.json"
    )["Body"]
    return json.loads(body.read())


def test_a_successful_run_emits_every_metric_and_writes_its_summary(app, lambda_context, capsys):
    cluster_id = half_hour_cluster(step_state="COMPLETED")
    state = {"run": RUN, "cluster": {"id": cluster_id}, "outputs": OUTPUTS}

    summary = app.handler(event("SUCCEEDED", state), lambda_context)

    assert metrics_in(emf_document(capsys)) == {
        "RunSucceeded": ("Count", 1.0),
        "RunFailed": ("Count", 0.0),
        "ImagesRead": ("Count", 1000.0),
        "ImagesFeaturized": ("Count", 90.0),
        "ImagesReused": ("Count", 900.0),
        "ImagesFailed": ("Count", 10.0),
        "StepSeconds": ("Seconds", 1200.0),
        "ClusterSeconds": ("Seconds", 1800.0),
        "ImagesPerMinute": ("None", 50.0),
        "EstimatedCostUSD": ("None", HALF_HOUR_COST),
        "ExplainedVariance": ("Percent", 81.25),
    }
    assert stored_summary() == summary
    assert summary["cluster"]["id"] == cluster_id and summary["cluster"]["state"] == "TERMINATED"
    assert summary["step"]["state"] == "COMPLETED"
    assert summary["cost"]["price_table"]["as_of"] == load_price_table("eu-west-1").as_of
    assert [(line["role"], line["type"], line["market"], line["count"], line["ec2_rate"])
            for line in summary["cost"]["breakdown"]] == [
        ("primary", "m5.xlarge", "ON_DEMAND", 1, "on-demand list price"),
        ("core", "c6i.2xlarge", "SPOT", 2, "Spot price at launch")]
    assert summary["cost"]["breakdown"][1]["ec2_hourly_usd"] == SPOT_PRICE
    assert summary["cost"]["notes"] == []


def test_the_cost_follows_the_instances_the_fleets_launched_not_the_first_listed(app, lambda_context, capsys):
    """EMR filled the core fleet (16 vCPUs) with one c6i.4xlarge (16 vCPUs) on demand, Spot not found in time."""
    cluster_id = create_cluster(launch=lambda fleet: FleetLaunch(
        "c6i.4xlarge" if fleet["InstanceFleetType"] == "CORE" else "m5.xlarge", "ON_DEMAND"),
        run=example_run(RUN_ID, 50, core_types={"c6i.2xlarge": 8, "c6i.4xlarge": 16}))
    set_timeline(cluster_id, created=CREATED, ended=CREATED + timedelta(minutes=30), step_state="COMPLETED",
                 step_started=CREATED + timedelta(minutes=5), step_ended=CREATED + timedelta(minutes=25))

    summary = app.handler(event("SUCCEEDED", {"run": RUN, "cluster": {"id": cluster_id}, "outputs": OUTPUTS}),
                          lambda_context)

    assert [(line["type"], line["market"], line["count"], line["billed_seconds"])
            for line in summary["cost"]["breakdown"]] == [("m5.xlarge", "ON_DEMAND", 1, 1800.0),
                                                          ("c6i.4xlarge", "ON_DEMAND", 1, 1800.0)]
    assert summary["cost"]["estimated_usd"] == pytest.approx(round(0.5 * (hourly("m5.xlarge")
                                                                          + hourly("c6i.4xlarge")), 4))


def test_a_failure_before_the_run_plan_emits_only_run_failed_and_writes_nothing(app, lambda_context, capsys):
    error = {"Error": "ManifestInvalid", "Cause": "images.prefix: required"}

    summary = app.handler(event("FAILED", {"error": error}), lambda_context)

    assert metrics_in(emf_document(capsys)) == {"RunSucceeded": ("Count", 0.0), "RunFailed": ("Count", 1.0)}
    assert summary["status"] == "FAILED" and summary["run_id"] is None and summary["error"] == error
    assert boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=OUTPUTS_BUCKET)["KeyCount"] == 0


def test_a_failed_step_records_durations_cost_and_the_error(app, lambda_context, capsys):
    cluster_id = half_hour_cluster(step_state="FAILED")
    state = {"run": RUN, "cluster": {"id": cluster_id}, "error": STEP_FAILED}

    summary = app.handler(event("FAILED", state), lambda_context)

    assert metrics_in(emf_document(capsys)) == {
        "RunSucceeded": ("Count", 0.0),
        "RunFailed": ("Count", 1.0),
        "StepSeconds": ("Seconds", 1200.0),
        "ClusterSeconds": ("Seconds", 1800.0),
        "EstimatedCostUSD": ("None", HALF_HOUR_COST),
    }
    stored = stored_summary()
    assert stored == summary
    assert stored["error"] == STEP_FAILED and stored["step"]["state"] == "FAILED"
    assert stored["counts"] is None and stored["pca"] is None


def test_a_cluster_not_ended_yet_counts_to_now(app, lambda_context, capsys):
    cluster_id = create_cluster()
    set_timeline(cluster_id, created=datetime.now(UTC) - timedelta(minutes=10))
    state = {"run": RUN, "cluster": {"id": cluster_id}, "error": STEP_FAILED}

    summary = app.handler(event("FAILED", state), lambda_context)

    metrics = metrics_in(emf_document(capsys))
    assert metrics["ClusterSeconds"][1] == pytest.approx(600, abs=5)
    assert "StepSeconds" not in metrics  # moto's step never started
    assert summary["cluster"]["ended_at"] is None and summary["step"]["started_at"] is None


def test_an_instance_type_without_a_price_reports_no_cost_and_why(app, lambda_context, capsys):
    run = example_run(RUN_ID, 50, core_types={"c6a.2xlarge": 8})
    cluster_id = create_cluster(run, launch=lambda fleet: FleetLaunch(
        fleet["InstanceTypeConfigs"][0]["InstanceType"], "ON_DEMAND"))
    set_timeline(cluster_id, created=CREATED, ended=CREATED + timedelta(minutes=30))

    summary = app.handler(event("FAILED", {"run": run, "cluster": {"id": cluster_id}}), lambda_context)

    assert "EstimatedCostUSD" not in metrics_in(emf_document(capsys))
    assert summary["cost"]["estimated_usd"] is None
    assert summary["cost"]["reason"] == "no eu-west-1 price for c6a.2xlarge"
    assert stored_summary()["cost"] == summary["cost"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(
    "bad",
    [
        event("RUNNING", {}),
        {**event("FAILED", {}), "execution_started_at": "2026-11-27T20:58:00"},  # no time zone
        event("FAILED", {"run": {**RUN, "fleets": [{**RUN["fleets"][0], "market": "RESERVED"}]}}),
    ],
)
def test_an_input_outside_the_contract_is_rejected(app, lambda_context, bad):
    with pytest.raises(ValidationError):
        app.handler(bad, lambda_context)
