"""The `orchard` command's parts that need no AWS: reading a step's stderr and an error's cause, the figures it prints,
the stack name from samconfig.toml, how runs are named."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rich.console import Console

from orchard_cli.deployment import samconfig_stack_name
from orchard_cli.function_logs import log_group
from orchard_cli.step_logs import job_error_line
from orchard_cli.views import count, duration, print_cost, readable_cause
from orchard_contract.run_names import HASH_LENGTH, is_run_of, run_id_for, started_by_hand_name

ARN = "arn:aws:states:eu-west-1:123456789012:execution:orchard-pipeline:mini-4482660a097dd98c"


@pytest.mark.parametrize(("stderr", "line"), [
    ("Listing images...\norchard-features: error: s3://b/manifests/m.json: no image matches\n",
     "orchard-features: error: s3://b/manifests/m.json: no image matches"),
    ("25/12/07 INFO SparkContext: Running Spark\nTraceback (most recent call last):\n  File \"run_job.py\", line 7\n"
     "    sys.exit(main())\nMemoryError: out of memory\n25/12/07 INFO ShutdownHookManager: Shutdown hook called\n",
     "MemoryError: out of memory"),
    ("Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'x'\n\nDuring handling of the above "
     "exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"b.py\", line 2\n"
     "py4j.protocol.Py4JJavaError: An error occurred while calling o71.save.\n: org.apache.spark.SparkException\n",
     "py4j.protocol.Py4JJavaError: An error occurred while calling o71.save."),
    ("Listing images...\nListing images: done in 0.1 s\n", None),
])
def test_the_jobs_error_line_is_the_last_exception_or_its_commands_error(stderr, line):
    assert job_error_line(stderr) == line


@pytest.mark.parametrize(("cause", "readable"), [
    (json.dumps({"errorType": "InvalidManifest", "errorMessage": "m.json: invalid manifest", "stackTrace": ["..."]}),
     "m.json: invalid manifest"),
    (json.dumps({"Step": {"Id": "s-1", "Status": {"State": "FAILED", "FailureDetails": {
        "Reason": "Step failed with exitCode 1", "LogFile": "s3://logs/emr/j-1/steps/s-1/stderr.gz"}}}}),
     "Step failed with exitCode 1 s3://logs/emr/j-1/steps/s-1/stderr.gz"),
    ("No cluster slot came free in 360 polls", "No cluster slot came free in 360 polls"),
    (json.dumps(["a", "list"]), '["a", "list"]'),
    (None, ""),
])
def test_a_cause_reads_as_its_message(cause, readable):
    assert readable_cause(cause) == readable


@pytest.mark.parametrize(("seconds", "shown"), [(0.4, "0 s"), (59.6, "1 min 00 s"), (245, "4 min 05 s"),
                                                (7380, "2 h 03 min")])
def test_durations(seconds, shown):
    assert duration(seconds) == shown


def test_a_count_the_summary_does_not_have_is_a_dash():
    counts = {"images_read": 12, "images_featurized": 10, "images_failed": 0}

    assert [count(counts, key) for key in ("images_read", "images_failed", "images_reused")] == ["12", "0", "-"]
    assert count(None, "images_read") == "-"


def test_samconfig_names_the_stack_its_deploy_section_first(tmp_path):
    config = tmp_path / "samconfig.toml"
    assert samconfig_stack_name(config) is None
    config.write_text('version = 0.1\n[default.global.parameters]\nstack_name = "orchard"\n')
    assert samconfig_stack_name(config) == "orchard"
    config.write_text(config.read_text() + '[default.deploy.parameters]\nstack_name = "orchard-test"\n')
    assert samconfig_stack_name(config) == "orchard-test"


def test_a_run_id_ends_with_its_executions_hash():
    run_id = run_id_for("mini", ARN, datetime(2026, 12, 7, 8, 53, 3, tzinfo=UTC))

    assert run_id.startswith("mini-20261207T085303Z-")
    assert is_run_of(run_id, ARN)
    assert not is_run_of(run_id, ARN + "0")


def test_an_execution_started_by_hand_is_named_after_its_manifest():
    name = started_by_hand_name("s3://bucket/by-hand/Apples only.json")

    assert name.startswith("Apples-only-") and len(name) == len("Apples-only-") + HASH_LENGTH
    assert name != started_by_hand_name("s3://bucket/by-hand/Apples only.json")


def test_a_functions_log_group_is_lambdas_default():
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:orchard-PrepareRunFunction-FSH62RHFRVXT"

    assert log_group(arn) == log_group(arn + ":$LATEST") == "/aws/lambda/orchard-PrepareRunFunction-FSH62RHFRVXT"


RECEIPT = {"estimated_usd": 0.216, "usd_per_1000_images": 2.4, "price_table": {"region": "eu-west-1", "as_of": "x"},
           "breakdown": [{"count": 2, "type": "c6i.2xlarge", "role": "core", "market": "ON_DEMAND",
                          "billed_seconds": 3600.0, "ec2_hourly_usd": 0.384, "emr_hourly_usd": 0.085, "usd": 0.469}]}


@pytest.mark.parametrize(("saved", "line"), [
    ({"images": 900, "cluster_seconds": 9000.0, "usd": 1.08},
     "  reuse       900 images read back from the feature store: about 9000 s of cluster, 1.080 USD, at this run's rate"),
    ({"images": 300, "cluster_seconds": None, "usd": None},
     "  reuse       300 images read back from the feature store: not estimated: no image featurized to measure a rate"),
    ({"images": 0, "cluster_seconds": None, "usd": None}, None),
])
def test_the_cost_says_what_reusing_the_feature_store_saved(saved, line):
    console = Console(record=True, width=200)

    print_cost(console, RECEIPT | {"reuse_saved": saved})

    printed = console.export_text().splitlines()
    assert printed[1] == "              2 x c6i.2xlarge  core     ON_DEMAND     3600 s billed  0.469 USD/h  0.4690 USD"
    assert (printed[2] if len(printed) > 2 else None) == line
