"""The `orchard` command against the stack deployed in moto, found by its name as on AWS: every subcommand's output and
exit status, on a run that succeeded, a run whose Spark step failed, a run whose manifest Prepare the run refused,
before any run, and for a run or a stack that does not exist. Each call the command makes, with its user's
credentials, must be granted by the stack's CliUserPolicy.

One stack for the module: `orchard start --wait` starts the three runs once (one by upload, one by URI, one refused),
and the tests read them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from iam_coverage import missing_grants
from job_outputs import JobOutputs, write_outputs
from orchard_cli.commands import main
from orchard_cli.deployment import connect
from orchard_cli.runs import Run, find_run
from orchard_local import template as t
from orchard_local.account import REGION
from orchard_local.deployed import STACK_NAME, policies
from orchard_local.emr_sync import EmrBehaviour, StepResult
from orchard_local.principals import Principal
from orchard_local.stack import MOTO_CONFIG, LocalStack, deployed

MANIFEST = {"manifest_version": 1, "name": "kiwis", "inputs": ["../fruits-360/Training/"],
            "select": {"classes": ["Kiwi"]}, "job": {"pca_components": 5}}
KIWIS = 6
HAPPY_PATH = ["Prepare the run", "Take a cluster slot", "Create the EMR cluster", "Run the feature job",
              "Terminate the cluster", "Release the cluster slot", "Check the outputs", "Record the run's metrics"]
PROGRESS = "Listing images...\nListing images: done in 0.1 s\n  12 images selected of 12 files found\n"
TRACEBACK = ("Listing images...\nTraceback (most recent call last):\n  File \"run_job.py\", line 7, in <module>\n"
             "    sys.exit(main())\nMemoryError: the executor ran out of memory\n")
POLICY = "CliUserPolicy"
FAST = ["--poll-seconds", "0.1"]


def orchard(user: Principal, *args: str) -> Result:
    """`orchard --stack <the stack> ARGS`, with the user's credentials (its calls recorded)."""
    return CliRunner().invoke(main, ["--stack", STACK_NAME, *args], obj=user.session())


def output_of(step: dict[str, Any]) -> str:
    args = step["HadoopJarStep"]["Args"]
    return args[args.index("--output") + 1]


def job_writing_outputs(step: dict[str, Any], node: boto3.Session) -> StepResult:
    """A step that writes the feature job's outputs (in miniature) and its progress to stderr."""
    write_outputs(node.client("s3"), JobOutputs(output_uri=output_of(step)))
    return StepResult("COMPLETED", stderr=PROGRESS)


def job_running_out_of_memory(step: dict[str, Any], node: boto3.Session) -> StepResult:
    return StepResult("FAILED", "Step failed with exitCode 1", stderr=TRACEBACK)


@dataclass
class Runs:
    """The module's stack, the command's user, and what `orchard` printed while the runs were made."""

    stack: LocalStack
    user: Principal
    before_any_run: Result
    succeeded: Result  # orchard start kiwis.json --wait (uploaded)
    step_failed: Result  # orchard start s3://.../by-hand/kiwis.json --wait
    refused: Result  # orchard start invalid.json --wait (Prepare the run refuses it)

    def orchard(self, *args: str) -> Result:
        return orchard(self.user, *args)


def execution_name_in(result: Result) -> str:
    """The execution `orchard start` said it started."""
    return next(line for line in result.stdout.splitlines() if "starts execution" in line
                or line.startswith("Started execution")).split("execution ", 1)[1].split()[0]


def run_id_in(result: Result) -> str:
    """The run `orchard start --wait` or `orchard show` printed."""
    return next(line for line in result.stdout.splitlines() if line.startswith("Run ")).split()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    folder = tmp_path_factory.mktemp("manifests")
    (folder / "kiwis.json").write_text(json.dumps(MANIFEST))
    (folder / "invalid.json").write_text(json.dumps({"manifest_version": 1, "inputs": []}))
    with mock_aws(config=MOTO_CONFIG), deployed(EmrBehaviour(run_step=job_writing_outputs)) as stack:
        s3 = boto3.client("s3", region_name=REGION)
        inputs = stack.names["InputsBucket"]
        for number in range(KIWIS):
            s3.put_object(Bucket=inputs, Key=f"fruits-360/Training/Kiwi/{number}_100.jpg", Body=b"\xff\xd8")
        s3.put_object(Bucket=inputs, Key="by-hand/kiwis.json", Body=json.dumps(MANIFEST))
        user = Principal(POLICY, [])
        before = orchard(user, "runs")
        with stack.uploads_start_runs():
            succeeded = orchard(user, "start", str(folder / "kiwis.json"), "--wait", *FAST)
            stack.emr.run_step = job_running_out_of_memory
            step_failed = orchard(user, "start", f"s3://{inputs}/by-hand/kiwis.json", "--wait", *FAST)
            refused = orchard(user, "start", str(folder / "invalid.json"), "--wait", *FAST)
        yield Runs(stack, user, before, succeeded, step_failed, refused)
    assert missing_grants(stack.calls) == []


def lines_of(result: Result) -> list[str]:
    return result.stdout.splitlines()


def test_before_any_run_runs_says_there_are_none(runs):
    assert runs.before_any_run.exit_code == 0
    assert runs.before_any_run.stdout == f"No runs yet on stack {STACK_NAME}. Start one with: orchard start MANIFEST\n"


def test_start_uploads_the_manifest_and_follows_the_run_state_by_state(runs):
    result = runs.succeeded

    assert result.exit_code == 0, result.output
    name = execution_name_in(result)
    assert f"to s3://{runs.stack.names['InputsBucket']}/manifests/kiwis.json: its upload starts execution {name}" \
        in result.stdout
    states = [line.split("  ")[1].strip() for line in lines_of(result) if line.endswith("Succeeded")]
    assert states == HAPPY_PATH
    assert next(line for line in lines_of(result) if line.startswith("Run ")).startswith(
        f"Run {run_id_in(result)}  SUCCEEDED  started ")
    assert "  images      read 12, featurized 6, reused 4, failed 2" in lines_of(result)


def test_start_by_uri_follows_a_failed_run_and_exits_1(runs):
    result = runs.step_failed

    assert result.exit_code == 1
    assert re.match(rf"Started execution kiwis-[0-9a-f]{{16}} of {STACK_NAME} with s3://", result.stdout)
    assert any(line.startswith("  Run the feature job") and line.endswith("Caught") for line in lines_of(result))
    assert "  error       States.TaskFailed: Step failed with exitCode 1" in lines_of(result)


def test_start_of_a_refused_manifest_exits_1_with_prepare_the_runs_reason(runs):
    result = runs.refused

    assert result.exit_code == 1
    assert "  error       InvalidManifest: s3://orchard-inputs-local/manifests/invalid.json: invalid manifest:" \
        in lines_of(result)
    assert "  - $.inputs: [] should be non-empty" in lines_of(result)


def test_start_without_wait_uploads_and_names_the_execution(runs, tmp_path):
    manifest = tmp_path / "later.json"
    manifest.write_text(json.dumps(MANIFEST))

    result = runs.orchard("start", str(manifest))  # no event delivered here: nothing starts

    assert result.exit_code == 0
    name = execution_name_in(result)
    assert result.stdout.splitlines()[-1] == f"Follow it with: orchard show {name}"
    stored = boto3.client("s3", region_name=REGION).get_object(Bucket=runs.stack.names["InputsBucket"],
                                                               Key="manifests/later.json")
    assert json.loads(stored["Body"].read()) == MANIFEST


def test_start_refuses_a_missing_file_and_a_file_that_is_no_manifest(runs, tmp_path):
    missing = runs.orchard("start", str(tmp_path / "nowhere.json"))
    text = tmp_path / "notes.txt"
    text.write_text("{}")
    not_json = runs.orchard("start", str(text))

    assert missing.exit_code == 2 and "no such file" in missing.stderr
    assert not_json.exit_code == 1 and "a manifest's file name ends with .json" in not_json.stderr


def test_runs_lists_every_run_newest_first_with_its_counts_and_cost(runs):
    result = runs.orchard("runs")

    assert result.exit_code == 0
    header, _, *rows = lines_of(result)
    assert header.split() == ["run", "status", "started", "(UTC)", "took", "read", "featurized", "reused", "failed",
                              "cost", "USD"]
    refused, step_failed, succeeded = (row.split() for row in rows)
    assert succeeded[0] == run_id_in(runs.succeeded) and succeeded[1] == "SUCCEEDED"
    assert succeeded[-5:] == ["12", "6", "4", "2", "0.020"]  # read, featurized, reused, failed, USD
    assert step_failed[:2] == [run_id_in(runs.step_failed), "FAILED"] and step_failed[-5:-1] == ["-"] * 4
    assert refused[0].startswith("invalid-") and refused[1] == "FAILED" and refused[-1] == "-"  # no plan: its name


def test_runs_filters_by_status_and_keeps_the_most_recent(runs):
    failed = runs.orchard("runs", "--status", "failed")
    newest = runs.orchard("runs", "--limit", "1")
    none = runs.orchard("runs", "--status", "ABORTED")

    assert [row.split()[1] for row in lines_of(failed)[2:]] == ["FAILED", "FAILED"]
    assert [row.split()[0] for row in lines_of(newest)[2:]] == [lines_of(failed)[2].split()[0]]
    assert (none.exit_code, none.stdout) == (0, f"No ABORTED runs yet on stack {STACK_NAME}. "
                                                "Start one with: orchard start MANIFEST\n")


def test_show_prints_a_run_by_its_id_its_execution_name_or_its_arn(runs):
    run_id, name = run_id_in(runs.succeeded), execution_name_in(runs.succeeded)
    arn = f"arn:aws:states:{REGION}:123456789012:execution:{runs.stack.names['PipelineStateMachine.Name']}:{name}"

    by_id, by_name, by_arn = runs.orchard("show", run_id), runs.orchard("show", name), runs.orchard("show", arn)

    assert by_id.exit_code == 0
    assert by_id.stdout == by_name.stdout == by_arn.stdout
    lines = lines_of(by_id)
    assert lines[0].startswith(f"Run {run_id}  SUCCEEDED  started ")
    assert [line[2:44].strip() for line in lines[4:12]] == HAPPY_PATH
    output_uri = f"s3://{runs.stack.names['OutputsBucket']}/runs/{run_id}/"
    for expected in ("  images      read 12, featurized 6, reused 4, failed 2",
                     "  PCA         5 components: 87.5 % of the variance",
                     f"  outputs     {output_uri}", f"  report      {output_uri}report/index.html",
                     f"  console     https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
                     f"#/v2/executions/details/{arn}"):
        assert expected in lines
    assert any(line.startswith("  cost        0.020 USD estimated (3.333 USD per 1,000 images featurized") for line in lines)
    assert any(line.startswith("  reuse       4 images read back from the feature store: about ") for line in lines)
    assert [line.split()[:4] for line in lines if "USD/h" in line] == [["1", "x", "m5.xlarge", "primary"],
                                                                       ["2", "x", "c6i.2xlarge", "core"]]


def test_show_of_a_failed_run_gives_its_error_and_no_outputs(runs):
    result = runs.orchard("show", run_id_in(runs.step_failed))

    assert result.exit_code == 0
    assert "  error       States.TaskFailed: Step failed with exitCode 1" in lines_of(result)
    assert not any(line.startswith(("  outputs", "  report")) for line in lines_of(result))
    assert any(line.startswith("  step logs   s3://orchard-logs-local/emr/") for line in lines_of(result))


def test_logs_of_a_failed_step_put_the_jobs_error_line_first(runs):
    result = runs.orchard("logs", run_id_in(runs.step_failed))

    assert result.exit_code == 0
    lines = lines_of(result)
    assert lines[0] == "Job error: MemoryError: the executor ran out of memory"
    assert lines[2].startswith("Step stderr (s3://orchard-logs-local/emr/") and lines[2].endswith("/stderr.gz):")
    assert lines[3:] == [f"  {line}" for line in TRACEBACK.splitlines()]


def test_logs_of_a_refused_manifest_show_the_failed_functions_log_lines(runs):
    result = runs.orchard("logs", execution_name_in(runs.refused))

    assert result.exit_code == 0
    lines = lines_of(result)
    assert lines[0] == f"Run {execution_name_in(runs.refused)}: no EMR step (the run ended before its cluster ran " \
                       "the job)."
    function = runs.stack.function_arn("PrepareRunFunction").split(":")[6]
    assert f"Function {function} failed: InvalidManifest  (/aws/lambda/{function})" in lines
    assert "  [ERROR] InvalidManifest: s3://orchard-inputs-local/manifests/invalid.json: invalid manifest:" in lines


def test_logs_of_a_successful_run_show_the_steps_stderr(runs):
    result = runs.orchard("logs", run_id_in(runs.succeeded))

    assert result.exit_code == 0
    assert lines_of(result)[1:] == [f"  {line}" for line in PROGRESS.splitlines()]


def test_a_run_without_a_summary_yet_has_the_same_links_from_its_plan_and_history(runs):
    """While a run goes on, its links (its step's logs among them) come from its plan and its EMR tasks' answers: those
    its summary records once it has ended."""
    ended = find_run(connect(STACK_NAME, runs.user.session()), run_id_in(runs.succeeded))
    going = Run(ended.execution, [event for event in ended.events if not (
        event["type"] == "LambdaFunctionSucceeded" and "summary_version" in event["lambdaFunctionSucceededEventDetails"]["output"])])

    assert going.summary is None and going.run_id == ended.run_id
    assert dict(going.links) == ended.summary["links"]


@pytest.mark.parametrize("command", ["show", "logs"])
def test_an_unknown_run_is_a_clear_error(runs, command):
    result = runs.orchard(command, "kiwis-20260101T000000Z-0badf00d")

    assert result.exit_code == 1
    assert result.stderr == (f"Error: no run 'kiwis-20260101T000000Z-0badf00d' on stack {STACK_NAME}: give a run id, "
                             "an execution name or an execution ARN (orchard runs lists the runs)\n")


def test_an_unknown_stack_is_a_clear_error(runs):
    result = CliRunner().invoke(main, ["--stack", "elsewhere", "runs"], obj=runs.user.session())

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: no stack 'elsewhere' in {REGION}: ")


def test_the_stack_is_named_by_the_environment_else_by_samconfig_toml(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORCHARD_STACK", raising=False)
    invoke = lambda: CliRunner().invoke(main, ["runs", "--limit", "1"], obj=runs.user.session())  # noqa: E731
    unnamed = invoke()
    (tmp_path / "samconfig.toml").write_text(f'[default.global.parameters]\nstack_name = "{STACK_NAME}"\n')
    from_samconfig = invoke()
    monkeypatch.setenv("ORCHARD_STACK", "elsewhere")
    from_environment = invoke()

    assert unnamed.exit_code == 1 and "which stack? Give --stack NAME, set ORCHARD_STACK" in unnamed.stderr
    assert from_samconfig.exit_code == 0
    assert from_environment.exit_code == 1 and "no stack 'elsewhere'" in from_environment.stderr


def test_the_cli_user_policy_grants_every_call_the_command_made_on_its_stack(runs):
    (document,) = [policy.document for policy in policies() if policy.resource == POLICY]
    on_this_stack = [call for call in runs.user.calls if call.params.get("StackName", STACK_NAME) == STACK_NAME]

    assert {call.operation.name for call in on_this_stack} >= {
        "DescribeStacks", "ListExecutions", "DescribeExecution", "GetExecutionHistory", "StartExecution", "PutObject",
        "GetObject", "FilterLogEvents"}
    assert missing_grants(on_this_stack, {POLICY: [document]}) == []


def test_the_functions_log_where_orchard_logs_reads_them():
    """Each function's log group is Lambda's default one, `/aws/lambda/<function name>` (orchard_cli.function_logs)."""
    for logical in t.functions():
        groups = [group for group in t.resources("AWS::Logs::LogGroup").values()
                  if group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{logical}}}"}]
        assert len(groups) == 1, logical
