"""At most MaxConcurrentRuns runs hold a cluster at once: the real definition, run by moto's interpreter, several
runs at a time, the slots taken and released in moto's DynamoDB through the real integration.

Each run's Spark step takes a while (a sleep, or until the test opens a gate), so that runs overlap; a waiting run
asks for a slot every second (`SlotPollSeconds` replaced at deploy time, the template's 60 s unchanged). The number
of clusters alive at once is measured from EMR's own timeline of every cluster (created, ended), not assumed from the
slots. Step Functions' status-change events are published as EventBridge would, when an execution ends or is stopped,
so the clean-up function runs as deployed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import boto3
from moto import mock_aws
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX
from moto.dynamodb.models import DynamoDBBackend

from iam_coverage import missing_grants
from job_outputs import JobOutputs, write_outputs
from orchard_local.account import REGION
from orchard_local.emr_sync import EmrBehaviour, StepResult
from orchard_local.events import execution_status_change
from orchard_local.stack import MOTO_CONFIG, Execution, LocalStack, deployed

MANIFEST = {"manifest_version": 1, "inputs": ["../fruits-360/Training/"], "select": {"classes": ["Kiwi"]},
            "job": {"pca_components": 5}}
KIWIS = 6
POLL = {"SlotPollSeconds": "1"}
WAITING = "Wait for a free slot"
RUNNING = "Run the feature job"
SLOT_TIMEOUT_END = ["Give up waiting for a slot", "Record the failed run", "Notify of the failure", "Fail the run"]

Step = Callable[[dict[str, Any], boto3.Session], StepResult]


def writing_outputs(before: Callable[[], None]) -> Step:
    """A step that runs `before` (sleeps, or waits for the test), then writes the job's outputs in miniature."""
    def run(step: dict[str, Any], node: boto3.Session) -> StepResult:
        before()
        args = step["HadoopJarStep"]["Args"]
        write_outputs(node.client("s3"), JobOutputs(output_uri=args[args.index("--output") + 1]))
        return StepResult("COMPLETED")
    return run


class Gate:
    """Steps wait here until the test opens it."""

    def __init__(self) -> None:
        self.opened = threading.Event()

    def wait(self) -> None:
        assert self.opened.wait(60), "the test never opened the gate"

    def open(self) -> None:
        self.opened.set()


@contextlib.contextmanager
def slotted_stack(step: Step, **parameters: str) -> Iterator[LocalStack]:
    """The stack deployed with these template parameters and a one-second slot poll; afterwards every call its
    principals made must be granted by the deployed template."""
    with mock_aws(config=MOTO_CONFIG), deployed(EmrBehaviour(run_step=step), parameters=parameters,
                                                substitutions=POLL) as stack:
        s3 = boto3.client("s3", region_name=REGION)
        for number in range(KIWIS):
            s3.put_object(Bucket=stack.names["InputsBucket"], Key=f"fruits-360/Training/Kiwi/{number}_100.jpg",
                          Body=b"\xff\xd8")
        yield stack
    assert missing_grants(stack.calls) == []
    assert "UpdateItem" in slot_calls(stack, "StateMachineRole")  # the check above saw the slots taken


def slot_calls(stack: LocalStack, principal: str) -> set[str]:
    """The DynamoDB operations a principal called."""
    return {call.operation.name for call in stack.calls
            if call.operation.service_model.service_name == "dynamodb" and call.principal == principal}


def upload_runs(stack: LocalStack, count: int) -> list[str]:
    """Upload `count` manifests at once (each its own file), their Object Created events through the template's rule;
    the executions started, in upload order."""
    events = [stack.upload_manifest(f"manifests/run-{number}.json", {**MANIFEST, "name": f"run-{number}"})
              for number in range(count)]
    return [started["execution_arn"] for event in events for started in stack.publish(event)]


def until(condition: Callable[[], bool], what: str, timeout_seconds: float = 60) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {timeout_seconds} s"
        time.sleep(0.1)


def entered(stack: LocalStack, execution_arn: str, state: str) -> bool:
    return state in stack.snapshot(execution_arn).state_names


def holders(slots: Mapping[str, Any]) -> set[str]:
    """The executions the slot item counts as holding a slot (its attributes other than the key and the count)."""
    return set(slots) - {"slots", "held"}


def peak_alive(lifetimes: Mapping[str, tuple[datetime, datetime | None]]) -> int:
    """The most clusters alive at one moment, each from its creation to its end. A creation in the same millisecond
    as another cluster's end counts as overlapping it: the measure can only err upwards."""
    moments = sorted([(created, 0) for created, _ in lifetimes.values()]
                     + [(ended, 1) for _, ended in lifetimes.values() if ended is not None])
    alive = peak = 0
    for _, is_end in moments:
        alive += -1 if is_end else 1
        peak = max(peak, alive)
    return peak


def assert_nothing_left(stack: LocalStack) -> None:
    """Every cluster terminated; the slot item counts no slot taken and names no holder."""
    assert set(stack.cluster_states().values()) <= {"TERMINATED", "TERMINATED_WITH_ERRORS"}
    slots = stack.slots()
    assert (slots["held"], holders(slots)) == ("0", set()), slots


def test_five_runs_at_once_never_hold_more_than_two_clusters_and_all_succeed():
    limit, runs = 2, 5
    with slotted_stack(writing_outputs(lambda: time.sleep(1.5)), MaxConcurrentRuns=str(limit)) as stack:
        started = upload_runs(stack, runs)
        executions = [stack.wait(arn, timeout_seconds=120) for arn in started]

        assert len(set(started)) == runs
        assert [e.status for e in executions] == ["SUCCEEDED"] * runs, [(e.error, e.cause) for e in executions]
        lifetimes = stack.cluster_lifetimes()
        peak = peak_alive(lifetimes)
        print(f"peak live clusters: {peak} (limit {limit}, {runs} runs, {len(lifetimes)} clusters)")
        assert peak == limit, f"peak live clusters: {peak}, limit {limit}"
        assert len(lifetimes) == runs and all(ended is not None for _, ended in lifetimes.values())
        waited = [e for e in executions if WAITING in e.state_names]
        assert len(waited) >= runs - limit  # the limit made the others wait, and they started when slots freed
        for execution in executions:
            path = execution.state_names
            assert path[-5:] == ["Run the feature job", "Terminate the cluster", "Release the cluster slot",
                                 "Check the outputs", "Record the run's metrics"]
            assert path.count("Create the EMR cluster") == 1
        assert_nothing_left(stack)
        assert stack.notices() == []
        assert slot_calls(stack, "StateMachineRole") == {"UpdateItem", "GetItem"}
        assert slot_calls(stack, "CleanUpFunctionRole") == {"UpdateItem"}


def test_an_aborted_waiting_run_and_an_aborted_running_run_release_what_they_hold():
    """With one slot: A runs, B and C wait. B is stopped while it waits: it held nothing and leaves nothing. A is
    stopped while its step runs: no Catch runs, so A still holds its slot and its cluster until the clean-up
    function, on A's ABORTED event, terminates the cluster and releases the slot; then C takes it and succeeds."""
    gate = Gate()
    with slotted_stack(writing_outputs(gate.wait), MaxConcurrentRuns="1") as stack:
        started = upload_runs(stack, 3)
        until(lambda: sum(entered(stack, arn, RUNNING) for arn in started) == 1
              and sum(entered(stack, arn, WAITING) for arn in started) == 2, "one running and two waiting")
        running = next(arn for arn in started if entered(stack, arn, RUNNING))
        waiting_b, waiting_c = (arn for arn in started if arn != running)
        assert holders(stack.slots()) == {running}

        stopped_waiting = stack.stop(waiting_b)  # stopped, and its ABORTED event delivered to the clean-up

        assert stopped_waiting.status == "ABORTED"
        assert "Create the EMR cluster" not in stopped_waiting.state_names
        assert holders(stack.slots()) == {running}

        stack.stepfunctions.stop_execution(executionArn=running)
        gate.open()  # moto ends a stopped execution once its task returns (Step Functions would not wait for it)
        until(lambda: stack.snapshot(running).status == "ABORTED", "aborted")
        aborted = stack.snapshot(running)
        assert not any(name.startswith(("Terminate", "Release")) for name in aborted.state_names)
        (cluster,) = [cid for cid, state in stack.cluster_states().items() if state not in ("TERMINATED",)]
        assert holders(stack.slots()) == {running}  # what Catch cannot do, the clean-up must

        stack.publish(execution_status_change(running, stack.state_machine_arn, "ABORTED"))

        assert stack.cluster_states()[cluster] == "TERMINATED"
        assert running not in holders(stack.slots())
        last = stack.wait(waiting_c, timeout_seconds=60)
        assert last.status == "SUCCEEDED", (last.error, last.cause)
        assert WAITING in last.state_names
        assert len(stack.cluster_states()) == 2  # A's and C's; B never had one
        assert_nothing_left(stack)


def test_duplicate_upload_events_give_one_execution_and_one_slot():
    gate = Gate()
    with slotted_stack(writing_outputs(gate.wait), MaxConcurrentRuns="2") as stack:
        event = stack.upload_manifest("manifests/run.json", {**MANIFEST, "name": "run"})

        arns = {started["execution_arn"] for _ in range(3) for started in stack.publish(event)}

        (arn,) = arns
        until(lambda: entered(stack, arn, RUNNING), "running")
        assert {started["execution_arn"] for started in stack.publish(event)} == {arn}  # once more, while it runs
        slots = stack.slots()
        assert (slots["held"], holders(slots)) == ("1", {arn})
        gate.open()
        assert stack.wait(arn, timeout_seconds=60).status == "SUCCEEDED"
        assert len(stack.stepfunctions.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]) == 1
        assert len(stack.cluster_states()) == 1
        assert_nothing_left(stack)


def test_a_run_that_waits_too_long_fails_with_a_named_error_and_a_notice():
    gate = Gate()
    with slotted_stack(writing_outputs(gate.wait), MaxConcurrentRuns="1", MaxSlotWaitMinutes="2") as stack:
        first, second = upload_runs(stack, 2)
        until(lambda: entered(stack, first, RUNNING) or entered(stack, second, RUNNING), "running")
        running, late = (first, second) if entered(stack, first, RUNNING) else (second, first)

        timed_out: Execution = stack.wait(late, timeout_seconds=60)

        assert (timed_out.status, timed_out.error) == ("FAILED", "SlotWaitTimedOut")
        assert "No cluster slot came free in 2 polls 1 s apart" in timed_out.cause
        assert "1 runs (MaxConcurrentRuns)" in timed_out.cause
        assert timed_out.state_names[-len(SLOT_TIMEOUT_END):] == SLOT_TIMEOUT_END
        assert timed_out.state_names.count(WAITING) == 2
        assert "Create the EMR cluster" not in timed_out.state_names
        (notice,) = stack.notices()
        assert "SlotWaitTimedOut" in notice["Message"]
        assert holders(stack.slots()) == {running}
        gate.open()
        assert stack.wait(running, timeout_seconds=60).status == "SUCCEEDED"
        assert len(stack.cluster_states()) == 1
        assert_nothing_left(stack)



class InternalServerError(JsonRESTError):
    """DynamoDB's 500, as its JSON protocol answers it."""

    code = 500

    def __init__(self) -> None:
        super().__init__(f"{ERROR_TYPE_PREFIX}InternalServerError", "Internal server error (injected after the write)")


def test_a_take_whose_answer_was_lost_finds_its_own_slot_and_does_not_wait_for_itself():
    """The take's write lands, then DynamoDB answers 500: the retried take fails its condition on the run's own
    attribute, and "Does this run already hold a slot?" sends it on to create its cluster (with one slot, waiting
    would have been waiting for itself until SlotWaitTimedOut)."""
    with slotted_stack(writing_outputs(lambda: None), MaxConcurrentRuns="1") as stack:
        update_item = vars(DynamoDBBackend)["update_item"]  # moto's, made atomic by the harness
        lost: list[str] = []

        def answer_lost_once(backend: Any, *args: Any, **kwargs: Any) -> Any:
            result = update_item(backend, *args, **kwargs)
            if not lost and "if_not_exists" in kwargs.get("update_expression", ""):
                lost.append("the take's answer")
                raise InternalServerError
            return result

        DynamoDBBackend.update_item = answer_lost_once  # type: ignore[method-assign]
        try:
            (arn,) = upload_runs(stack, 1)
            execution = stack.wait(arn, timeout_seconds=60)
        finally:
            DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]

        assert lost and execution.status == "SUCCEEDED", (execution.error, execution.cause)
        assert execution.state_names[:5] == ["Prepare the run", "Take a cluster slot", "Look for this run's slot",
                                             "Does this run already hold a slot?", "Create the EMR cluster"]
        assert execution.states[1].attempts == 2
        assert WAITING not in execution.state_names
        assert_nothing_left(stack)


def test_the_peak_counts_overlapping_lifetimes_and_errs_upwards_at_ties():
    at = lambda second: datetime(2026, 12, 7, 12, 0, second)  # noqa: E731
    assert peak_alive({"a": (at(0), at(5)), "b": (at(6), at(9))}) == 1
    assert peak_alive({"a": (at(0), at(5)), "b": (at(1), at(9)), "c": (at(2), None)}) == 3
    assert peak_alive({"a": (at(0), at(5)), "b": (at(5), at(9))}) == 2  # created as the other ended
