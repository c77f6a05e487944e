"""Watch clusters: the workflow's clusters older than the maximum run time are counted and alarmed on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3

from orchard_functions.clusters import EXECUTION_TAG, overdue_clusters
from orchard_local.account import LAMBDA_ENVIRONMENT, REGION
from watch_clusters import app

NOW = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
MAX_AGE = timedelta(minutes=int(LAMBDA_ENVIRONMENT["MAX_RUN_MINUTES"]))


def cluster(cluster_id: str, age: timedelta, state: str = "RUNNING", tagged: bool = True) -> dict:
    tags = [{"Key": EXECUTION_TAG, "Value": f"arn:aws:states:{REGION}:123456789012:execution:p:{cluster_id}"}]
    return {"Id": cluster_id, "Status": {"State": state, "Timeline": {"CreationDateTime": NOW - age}},
            "Tags": tags if tagged else []}


def test_only_active_workflow_clusters_past_the_maximum_are_overdue():
    clusters = [
        cluster("j-young", MAX_AGE - timedelta(minutes=1)),
        cluster("j-old", MAX_AGE + timedelta(minutes=1)),
        cluster("j-old-waiting", MAX_AGE * 2, state="WAITING"),
        cluster("j-old-ended", MAX_AGE * 2, state="TERMINATED"),
        cluster("j-old-not-ours", MAX_AGE * 2, tagged=False),
    ]
    assert overdue_clusters(clusters, NOW, MAX_AGE) == ["j-old", "j-old-waiting"]


def test_the_handler_counts_the_workflows_clusters_in_its_metrics(aws, lambda_context, capsys):
    emr = boto3.client("emr", region_name=REGION)
    for tags in ([{"Key": EXECUTION_TAG, "Value": "arn:aws:states:eu-west-1:123456789012:execution:p:x"}], []):
        emr.run_job_flow(Name="c", ReleaseLabel="emr-7.13.0", JobFlowRole="r", ServiceRole="s", Tags=tags,
                         Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                                    "KeepJobFlowAliveWhenNoSteps": True})

    result = app.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, lambda_context)

    assert len(result["active"]) == 1 and result["overdue"] == []
    emf = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Orchard"
    assert (emf["ActiveClusters"], emf["OverdueClusters"]) == ([1.0], [0.0])
