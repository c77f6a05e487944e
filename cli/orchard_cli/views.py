"""What `orchard` prints, as rich renderables: the states of a run as the Step Functions console lists them, the table
of runs, one run's summary. No AWS calls here."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchard_cli.history import StateRun
from orchard_cli.runs import Run
from orchard_contract.paths import join
from orchard_contract.run_outputs import REPORT_PAGE

PIPE_WIDTH = 200  # columns when the output is no terminal (a file, a pipe, a test): rows stay whole
NAME_WIDTH = 42
STATE_STYLES = {"Succeeded": "green", "Failed": "red", "Caught": "yellow", "Running": "cyan"}
RUN_STYLES = {"SUCCEEDED": "green", "FAILED": "red", "TIMED_OUT": "red", "ABORTED": "red", "RUNNING": "cyan",
              "PENDING_REDRIVE": "yellow"}
STATES_HEADER = f"  {'state':<{NAME_WIDTH}} {'start':>9} {'duration':>10}   status"
NOT_KNOWN = "-"
CLUSTER_TIME = (("provisioning_and_bootstrap_seconds", "provisioning and bootstrap"), ("step_seconds", "step"),
                ("other_seconds", "other"))  # the summary's split of the cluster's life


def console(file: IO[str] | None = None) -> Console:
    """A console for `orchard`'s output: colours on a terminal only (and never with NO_COLOR), text printed as it is
    (no markup, emoji codes or highlighting read into ARNs and logs, long lines left to the terminal to wrap), tables
    on a wide page when the output is no terminal."""
    options: dict[str, Any] = {"file": file, "highlight": False, "markup": False, "emoji": False, "soft_wrap": True}
    terminal = Console(**options)
    return terminal if terminal.is_terminal else Console(**options, width=PIPE_WIDTH)


def state_line(state: StateRun, started: datetime) -> Text:
    """A state as the console's list shows it: when it started after the run, how long it took, how it ended."""
    offset = (state.entered - started).total_seconds()
    duration = (state.exited - state.entered).total_seconds() if state.exited else 0.0
    attempts = f" ({state.attempts} attempts)" if state.attempts > 1 else ""
    line = Text(f"  {state.name:<{NAME_WIDTH}} +{offset:7.1f} s {duration:8.1f} s   ")
    return line.append(state.status, style=STATE_STYLES.get(state.status)).append(attempts)


def duration(seconds: float) -> str:
    """`45 s`, `4 min 05 s`, `2 h 03 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def moment(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def count(counts: Mapping[str, Any] | None, key: str) -> str:
    """A count of the summary, or `-` when the summary has none (a run that failed before, or a count this
    deployment's functions do not record)."""
    value = (counts or {}).get(key)
    return NOT_KNOWN if value is None else str(value)


def usd(value: float | None, digits: int = 3) -> str:
    return NOT_KNOWN if value is None else f"{value:.{digits}f}"


def runs_table(runs: Sequence[Run]) -> Table:
    """One row a run, newest first: name, status, start, duration, images, cost."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    for header in ("took", "read", "featurized", "reused", "failed", "cost USD"):
        table.add_column(header, justify="right", no_wrap=True)
    for run in runs:
        summary = run.summary or {}
        counts = summary.get("counts")
        images = [count(counts, key) for key in ("images_read", "images_featurized", "images_reused", "images_failed")]
        table.add_row(run.label, Text(run.status, style=RUN_STYLES.get(run.status, "")),
                      f"{run.started:%Y-%m-%d %H:%M}", duration(run.seconds), *images,
                      usd((summary.get("cost") or {}).get("estimated_usd")))
    return table


def readable_cause(cause: str | None) -> str:
    """An error's cause as a person reads it: a function's `errorMessage`, an EMR step's failure reason, else as
    given (Step Functions passes the cause on as the service wrote it)."""
    if not cause:
        return ""
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(document, dict) and "errorMessage" in document:
        return str(document["errorMessage"])
    failure = document.get("Step", {}).get("Status", {}).get("FailureDetails") if isinstance(document, dict) else None
    if failure:
        return " ".join(str(failure[key]) for key in ("Reason", "Message", "LogFile") if failure.get(key))
    return cause


def print_states(out: Console, run: Run) -> None:
    out.print(STATES_HEADER)
    for state in run.states:
        out.print(state_line(state, run.states[0].entered))


def print_run(out: Console, run: Run, *, states: bool = True) -> None:
    """One run: its states with their times (unless already printed), counts, PCA, cluster time, cost with its
    lines, where its outputs, report and logs are, its console link."""
    summary = run.summary or {}
    header = Text(f"Run {run.label}  ").append(run.status, style=RUN_STYLES.get(run.status))
    out.print(header.append(f"  started {moment(run.started)}, took {duration(run.seconds)}"))
    out.print(f"  execution   {run.arn}")
    if states:
        out.print()
        print_states(out, run)
    out.print()
    if run.error:
        error, cause = run.error
        out.print(Text("  error       ").append(f"{error}: {readable_cause(cause)}", style="red"))
    if counts := summary.get("counts"):
        out.print(f"  images      read {count(counts, 'images_read')}, "
                  f"featurized {count(counts, 'images_featurized')}, reused {count(counts, 'images_reused')}, "
                  f"failed {count(counts, 'images_failed')}")
    if summary.get("images_per_minute") is not None:
        out.print(f"  throughput  {summary['images_per_minute']:.0f} images/min over the EMR step "
                  f"({summary['step']['seconds']:.1f} s)")
    if pca := summary.get("pca"):
        random = "   (random weights: NOT ImageNet)" if (summary.get("model") or {}).get("weights_are_random") else ""
        out.print(f"  PCA         {pca['components']} components: "
                  f"{100 * pca['explained_variance_total']:.1f} % of the variance{random}")
    if cluster := summary.get("cluster"):
        out.print(f"  cluster     {cluster['id']} {cluster['state']}{cluster_time(summary)}")
    if cost := summary.get("cost"):
        print_cost(out, cost)
    print_places(out, run)


def cluster_time(summary: Mapping[str, Any]) -> str:
    """`, 36.5 s: provisioning and bootstrap 0.0 s, step 36.5 s, other 0.0 s`, from the summary's split."""
    seconds = summary["cluster"].get("seconds")
    split = summary.get("cluster_time") or {}
    parts = [f"{label} {split[key]:.1f} s" for key, label in CLUSTER_TIME if split.get(key) is not None]
    return (f", {seconds:.1f} s" if seconds is not None else "") + (f": {', '.join(parts)}" if parts else "")


def print_cost(out: Console, cost: Mapping[str, Any]) -> None:
    """The estimate and its receipt: a line per fleet, type and market."""
    if cost.get("estimated_usd") is None:
        out.print(f"  cost        unknown: {cost.get('reason')}")
        return
    table = cost.get("price_table") or {}
    per_thousand = cost.get("usd_per_1000_images")
    rate = f"{per_thousand:.3f} USD per 1,000 images featurized; " if per_thousand is not None else ""
    out.print(f"  cost        {cost['estimated_usd']:.3f} USD estimated ({rate}{table.get('region')} prices of "
              f"{table.get('as_of')}, billed per second, at least a minute per instance)")
    for line in cost.get("breakdown", []):
        hourly = (line["ec2_hourly_usd"] or 0) + (line["emr_hourly_usd"] or 0)
        out.print(f"              {line['count']} x {line['type']:<12} {line['role']:<8} {line['market']:<9} "
                  f"{line['billed_seconds']:>8.0f} s billed  {hourly:.3f} USD/h  {usd(line['usd'], 4)} USD")
    saved = cost.get("reuse_saved") or {}
    if saved.get("images"):
        estimate = (f"about {saved['cluster_seconds']:.0f} s of cluster, {usd(saved['usd'], 3)} USD, at this run's "
                    "rate" if saved.get("usd") is not None else "not estimated: no image featurized to measure a rate")
        out.print(f"  reuse       {saved['images']} images read back from the feature store: {estimate}")


def print_places(out: Console, run: Run) -> None:
    """Where the outputs, the report, the step's logs and the execution in the console are."""
    links = run.links
    if run.output_uri and (run.summary or {}).get("counts"):
        out.print(f"  outputs     {run.output_uri}")
        out.print(f"  report      {join(run.output_uri, REPORT_PAGE)}")
    if links.get("step_logs"):
        out.print(f"  step logs   {links['step_logs']}  (orchard logs {run.label})")
    out.print(f"  console     {links['execution_console']}")
