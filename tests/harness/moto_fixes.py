"""Where moto's interpreter differs from Step Functions in a way the workflow meets, made to agree.

- A Fail state whose ErrorPath gives a `States.` error (re-raising `States.TaskFailed` from a failed
  Spark step, say) fails in moto with "Custom Error Names MUST NOT begin with the prefix 'States.'";
  Step Functions ends the execution with that error. moto 5.2.5, `state_fail.CustomErrorName`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.state.fail import state_fail


class ReraisedErrorName(ErrorName):
    """An error name a Fail state passes on as it came, `States.` ones included."""


@contextlib.contextmanager
def fail_states_reraise() -> Iterator[None]:
    """Let Fail states end executions with the error they were given, for the block."""
    original = state_fail.CustomErrorName
    state_fail.CustomErrorName = ReraisedErrorName
    try:
        yield
    finally:
        state_fail.CustomErrorName = original
