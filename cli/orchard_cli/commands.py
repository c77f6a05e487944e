"""The `orchard` command: `runs`, `show`, `logs` and `start` on a deployed stack found by its name.

Each command is a function printing to a rich console (the demo calls them too), wrapped by click. What `orchard`
refuses, and what AWS refuses it, ends the command with its message and exit status 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.text import Text

from orchard_cli.deployment import STACK_VARIABLE, Deployment, connect, samconfig_stack_name
from orchard_cli.errors import CliError
from orchard_cli.follow import POLL_SECONDS, follow
from orchard_cli.function_logs import function_name, invocation_lines, log_group
from orchard_cli.runs import find_run, recent_runs
from orchard_cli.start import start_by_uri, upload_manifest, wait_for_start
from orchard_cli.step_logs import job_error_line, stderr_uri, step_stderr
from orchard_cli.views import console, print_run, runs_table

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")  # ListExecutions' filter
DEFAULT_LIMIT = 20


def print_runs(deployment: Deployment, out: Console, *, status: str | None = None, limit: int = DEFAULT_LIMIT) -> None:
    """The most recent runs, newest first; a sentence when there are none."""
    runs = recent_runs(deployment, status=status, limit=limit)
    if not runs:
        which = f"{status} runs" if status else "runs"
        out.print(f"No {which} yet on stack {deployment.stack_name}. Start one with: orchard start MANIFEST")
        return
    out.print(runs_table(runs))


def print_show(deployment: Deployment, out: Console, run: str) -> None:
    print_run(out, find_run(deployment, run))


def print_logs(deployment: Deployment, out: Console, run: str) -> None:
    """The job's error line first when the run failed, the EMR step's stderr, then each failed function's log lines."""
    found = find_run(deployment, run)
    step_logs = found.links.get("step_logs")
    stderr = step_stderr(deployment.s3, step_logs) if step_logs else None
    error_line = job_error_line(stderr) if stderr and found.status != "SUCCEEDED" else None
    if error_line:
        out.print(Text("Job error: ").append(error_line, style="bold red"))
        out.print()
    if not step_logs:
        out.print(f"Run {found.label}: no EMR step (the run ended before its cluster ran the job).")
    elif stderr is None:
        out.print(f"Step stderr: not at {stderr_uri(step_logs)} yet (EMR archives a step's logs there after it "
                  "writes them: look again later).")
    else:
        out.print(f"Step stderr ({stderr_uri(step_logs)}):")
        for line in stderr.splitlines():
            out.print(f"  {line}")
    for invocation in found.failed_invocations:
        group = log_group(invocation.function_arn)
        out.print()
        out.print(Text(f"Function {function_name(invocation.function_arn)} failed: ").append(
            f"{invocation.error}", style="red").append(f"  ({group})"))
        lines = invocation_lines(deployment.logs, invocation)
        if lines is None:
            out.print(f"  no log group {group}")
        elif not lines:
            out.print(f"  no log lines in {group} at that time (yet: they may take minutes to arrive)")
        for line in lines or []:
            out.print(f"  {line}")


def print_start(deployment: Deployment, out: Console, manifest: str, *, wait: bool, poll_seconds: float) -> bool:
    """Start a run from a local manifest (uploaded) or an s3:// one (by hand); with `wait`, follow it to its end and
    print it. Whether it succeeded (or, without `wait`, started)."""
    if manifest.startswith("s3://"):
        arn = start_by_uri(deployment, manifest)
        out.print(f"Started execution {arn.rsplit(':', 1)[1]} of {deployment.stack_name} with {manifest}")
    else:
        uri, arn = upload_manifest(deployment, Path(manifest))
        out.print(f"Uploaded {manifest} to {uri}: its upload starts execution {arn.rsplit(':', 1)[1]}")
        if wait:
            wait_for_start(deployment.stepfunctions, arn, poll_seconds=poll_seconds)
    if not wait:
        out.print(f"Follow it with: orchard show {arn.rsplit(':', 1)[1]}")
        return True
    out.print()
    follow(deployment.stepfunctions, arn, out, poll_seconds=poll_seconds)
    ended = find_run(deployment, arn)
    out.print()
    print_run(out, ended, states=False)
    return ended.status == "SUCCEEDED"


class OrchardGroup(click.Group):
    """Commands whose refusals, and AWS's, end them with a message and exit status 1 (click's ClickException)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            raise click.ClickException(str(error)) from error
        except (BotoCoreError, ClientError) as error:
            raise click.ClickException(f"AWS: {error}") from error


class Target:
    """The stack a command works on, connected to when a command first needs it (not for --help)."""

    def __init__(self, stack_name: str | None, session: boto3.Session | None) -> None:
        self.stack_name, self.session = stack_name, session
        self._deployment: Deployment | None = None

    def deployment(self) -> Deployment:
        if self._deployment is None:
            self._deployment = connect(self.stack_name, self.session)
        return self._deployment


@click.group(cls=OrchardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--stack", envvar=STACK_VARIABLE, default=samconfig_stack_name, show_envvar=True,
              help="The deployed stack's name (default: samconfig.toml's stack_name here).")
@click.pass_context
def main(ctx: click.Context, stack: str | None) -> None:
    """Every run of a deployed Orchard stack in the terminal, with your AWS credentials and region."""
    ctx.obj = Target(stack, ctx.obj)  # a test's or the demo's boto3 session, else the user's default one


@main.command()
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), help="Only the runs of this status.")
@click.option("--limit", type=click.IntRange(1, 1000), default=DEFAULT_LIMIT, show_default=True,
              help="How many runs, the most recent.")
@click.pass_obj
def runs(target: Target, status: str | None, limit: int) -> None:
    """Recent runs, newest first: status, start, duration, images, cost."""
    print_runs(target.deployment(), console(), status=status.upper() if status else None, limit=limit)


@main.command()
@click.argument("run")
@click.pass_obj
def show(target: Target, run: str) -> None:
    """One run: its states, counts, PCA, cost, and where it all is.

    RUN is a run id (orchard runs lists them), an execution name or an execution ARN. Printed: the states with their
    times, the images read, featurized, reused and failed, the PCA's variance, the cluster's time and the cost with
    its receipt, where the outputs, the report and the step's logs are, the console link."""
    print_show(target.deployment(), console(), run)


@main.command()
@click.argument("run")
@click.pass_obj
def logs(target: Target, run: str) -> None:
    """The EMR step's stderr and the failed functions' log lines.

    RUN is a run id, an execution name or an execution ARN. When the run failed, the job's error line comes first."""
    print_logs(target.deployment(), console(), run)


@main.command()
@click.argument("manifest")
@click.option("--wait", is_flag=True, help="Follow the run state by state to its end; exit 1 unless it succeeds.")
@click.option("--poll-seconds", type=click.FloatRange(0.1), default=POLL_SECONDS, show_default=True,
              help="How often --wait asks Step Functions how the run goes.")
@click.pass_obj
def start(target: Target, manifest: str, wait: bool, poll_seconds: float) -> None:
    """Start a run from a manifest, a local file or an s3:// one.

    A local MANIFEST (a .json file) is uploaded under manifests/ in the inputs bucket, and its upload starts the run;
    an s3:// URI starts an execution with it by hand."""
    if not manifest.startswith("s3://") and not Path(manifest).is_file():
        raise click.BadParameter(f"{manifest}: no such file (give a local manifest or an s3:// URI)",
                                 param_hint="MANIFEST")
    if not print_start(target.deployment(), console(), manifest, wait=wait, poll_seconds=poll_seconds):
        raise click.exceptions.Exit(1)
