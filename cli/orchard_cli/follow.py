"""Following an execution state by state, as the Step Functions console fills in its list of states (and as
`make demo` prints it): a line for each state as it ends, until the execution ends."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console

from orchard_cli.history import execution_history, states_of
from orchard_cli.views import STATES_HEADER, state_line

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

POLL_SECONDS = 5.0


def follow(stepfunctions: SFNClient, execution_arn: str, out: Console, poll_seconds: float = POLL_SECONDS) -> None:
    """Print each state of the execution as it ends, until the execution is no longer RUNNING (then every state)."""
    shown = 0
    out.print(STATES_HEADER)
    while True:
        described = stepfunctions.describe_execution(executionArn=execution_arn)
        states = states_of(execution_history(stepfunctions, execution_arn))
        finished = described["status"] != "RUNNING"
        done = states if finished else [state for state in states if state.exited]
        for state in done[shown:]:
            out.print(state_line(state, states[0].entered))
        shown = len(done)
        if finished:
            return
        time.sleep(poll_seconds)
