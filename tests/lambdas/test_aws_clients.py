"""EMR under load: every function's EMR client retries throttling with bounded, growing waits (botocore's standard
mode, orchard_functions.aws_clients), and only the calls that are safe to repeat go through one."""

from __future__ import annotations

import importlib
import re
import threading
import time
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from orchard_functions.aws_clients import EMR_MAX_RETRIES, emr_client
from orchard_functions.clusters import EXECUTION_TAG
from orchard_local.account import ACCOUNT, REGION, STATE_MACHINE_ARN
from orchard_local.events import execution_status_change
from orchard_local.faults import faults_of

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
HANDLERS = sorted(path.parent.name for path in LAMBDAS.glob("*/app.py"))
# The EMR operations a function may call: reads, and TerminateJobFlows, whose effect is a state (terminated).
IDEMPOTENT = {"DescribeCluster", "ListClusters", "ListInstances", "ListSteps", "TerminateJobFlows"}
THROTTLING = "ThrottlingException"  # EMR's, "Rate exceeded", HTTP 400


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The backoff waits botocore takes between attempts in this test's thread, recorded instead of slept (`time` is
    one module: another thread's sleeps, such as a workflow test's execution still waiting, sleep as before)."""
    slept: list[float] = []
    test_thread, sleep = threading.current_thread(), time.sleep

    def wait(seconds: float) -> None:
        if threading.current_thread() is test_thread:
            slept.append(seconds)
        else:
            sleep(seconds)

    monkeypatch.setattr("botocore.endpoint.time.sleep", wait)
    return slept


def emr_clients_of_the_functions() -> dict[str, BaseClient]:
    clients = {}
    for name in HANDLERS:
        module = importlib.import_module(f"{name}.app")
        for value in vars(module).values():
            if isinstance(value, BaseClient) and value.meta.service_model.service_name == "emr":
                clients[name] = value
    return clients


def test_every_function_that_calls_emr_retries_in_standard_mode_bounded():
    clients = emr_clients_of_the_functions()

    assert sorted(clients) == ["clean_up", "record_metrics", "watch_clusters"]
    for client in clients.values():
        # botocore keeps max_attempts (retries) as total_max_attempts (attempts, the first included)
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": EMR_MAX_RETRIES + 1}


def test_no_function_builds_an_emr_client_of_its_own():
    builders = [path.relative_to(LAMBDAS) for path in LAMBDAS.rglob("*.py")
                if re.search(r"""client\(\s*["']emr["']""", path.read_text()) and path.name != "aws_clients.py"]
    assert builders == []


def test_the_functions_call_only_the_emr_operations_that_are_safe_to_repeat():
    source = "\n".join(path.read_text() for path in LAMBDAS.rglob("*.py"))
    calls = re.findall(r"""\bemr\.(?:get_paginator\(["']([a-z_]+)["']\)|([a-z_]+)\()""", source)
    called = {paginated or method for paginated, method in calls} - {"get_paginator"}
    operations = {"".join(word.capitalize() for word in name.split("_")) for name in called}
    assert "TerminateJobFlows" in operations and operations <= IDEMPOTENT, operations - IDEMPOTENT


def test_a_throttled_emr_call_is_retried_after_growing_waits_and_answers(aws, waits):
    emr = emr_client()
    with faults_of(emr) as faults:
        faults.answer("ListClusters", THROTTLING, times=3)

        assert emr.list_clusters()["Clusters"] == []

    assert faults.sent == ["ListClusters"] * 4
    # before retry i a random wait of up to 2**i seconds (a throttling error's base, 1 s)
    assert len(waits) == 3 and all(0 <= wait <= 2**i for i, wait in enumerate(waits))


def test_throttling_that_outlasts_the_retries_fails_with_its_name_after_a_bounded_number_of_attempts(aws, waits):
    emr = emr_client()
    with faults_of(emr) as faults, pytest.raises(ClientError) as raised:
        faults.answer("DescribeCluster", THROTTLING, times=100)
        emr.describe_cluster(ClusterId="j-0123456789ABC")

    assert raised.value.response["Error"]["Code"] == THROTTLING
    assert faults.sent == ["DescribeCluster"] * (EMR_MAX_RETRIES + 1)
    assert sum(waits) <= 1 + 2 + 4 + 8


def test_clean_up_terminates_the_clusters_of_an_execution_through_throttling(slots, emr, lambda_context,
                                                                              waits):
    from clean_up import app

    execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:orchard-pipeline:mini-0123456789abcdef"
    cluster_id = emr.run_job_flow(
        Name="orchard-mini", ReleaseLabel="emr-7.13.0", JobFlowRole="orchard-emr-instance-profile",
        ServiceRole="orchard-emr-service-role", Tags=[{"Key": EXECUTION_TAG, "Value": execution_arn}],
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
    )["JobFlowId"]
    with faults_of(app.emr) as faults:
        for operation in ("ListClusters", "DescribeCluster", "TerminateJobFlows"):
            faults.answer(operation, THROTTLING, times=2)
        result = app.handler(execution_status_change(execution_arn, STATE_MACHINE_ARN, "FAILED"), lambda_context)

    assert result == {"terminated": [cluster_id], "slot_released": False}  # it held no slot
    assert emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"] == "TERMINATED"
    assert faults.sent.count("TerminateJobFlows") == 3
