"""The definition's shape: once the cluster may exist, every way out goes through its termination."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from orchard_local import template as t
from orchard_local.emr_sync import ERROR_PREFIX, GENERIC_ERROR, modeled_errors

CREATE = "Create the EMR cluster"
TERMINATING_RESOURCES = {"${EmrTerminateClusterSync}", "${CleanUpFunctionArn}"}


def states() -> dict[str, dict[str, Any]]:
    return json.loads(t.DEFINITION.read_text())["States"]


def successors(state: dict[str, Any]) -> list[str]:
    """Every state control can pass to next: Next, each Catch, each Choice branch and Default."""
    following = [state["Next"]] if "Next" in state else []
    following += [catcher["Next"] for catcher in state.get("Catch", [])]
    following += [choice["Next"] for choice in state.get("Choices", [])]
    return following + ([state["Default"]] if "Default" in state else [])


def paths_from(name: str, seen: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every path from `name` to a state that ends the execution (the definition has no loops)."""
    path = (*seen, name)
    state = states()[name]
    if state.get("End") or state["Type"] in ("Succeed", "Fail"):
        yield path
    for successor in successors(state):
        assert successor not in path, f"loop through {successor}"
        yield from paths_from(successor, path)


def terminates(state: dict[str, Any]) -> bool:
    return state.get("Resource") in TERMINATING_RESOURCES


def test_every_path_from_cluster_creation_to_an_end_passes_through_termination():
    paths = list(paths_from(CREATE))
    assert len(paths) > 3
    for path in paths:
        assert any(terminates(states()[name]) for name in path), " -> ".join(path)


def test_every_state_between_creation_and_termination_catches_everything():
    exposed = {name for path in paths_from(CREATE)
               for name in path[:next(i for i, n in enumerate(path) if terminates(states()[n]))]}
    assert CREATE in exposed and "Run the feature job" in exposed
    for name in exposed:
        catchers = states()[name].get("Catch", [])
        assert any(c["ErrorEquals"] == ["States.ALL"] and c["ResultPath"] == "$.error" for c in catchers), name


def test_the_first_state_catches_whatever_the_execution_input_is():
    """The first state's input is the execution input, any JSON: its error can replace it, not go into it
    ($.error cannot be applied to an array, a string, a number or null: the Catch itself would fail with
    States.ResultPathMatchFailure, the execution with it, unrecorded)."""
    first = json.loads(t.DEFINITION.read_text())["StartAt"]
    (catcher,) = states()[first]["Catch"]
    assert (catcher["ErrorEquals"], catcher["ResultPath"]) == (["States.ALL"], "$")
    assert states()[catcher["Next"]]["Parameters"] == {"error.$": "$"}


def test_termination_itself_catches_everything_and_keeps_the_first_error():
    for name, state in states().items():
        if terminates(state):
            (catcher,) = state["Catch"]
            assert catcher["ErrorEquals"] == ["States.ALL"], name
            after_failure = name != "Terminate the cluster"
            assert (catcher["ResultPath"] != "$.error") == after_failure, name


def test_what_is_not_idempotent_is_never_retried():
    """RunJobFlow has no idempotency token and AddJobFlowSteps queues a step per call: a retry after an error
    that hid a success (EMR's generic error carries throttling too) would start a second cluster or job."""
    for name in (CREATE, "Run the feature job"):
        assert "Retry" not in states()[name], name


def test_termination_retries_emr_throttling_a_bounded_number_of_times_with_growing_waits():
    """EMR's ThrottlingException reaches Step Functions as the generic `EMR.AmazonElasticMapReduceException` (it is
    not in EMR's API model: orchard_local.emr_sync). TerminateJobFlows is safe to repeat (a terminated cluster stays
    terminated), so both termination tasks retry that error, a few times, each wait longer than the last."""
    terminations = {name: state for name, state in states().items()
                    if state.get("Resource") == "${EmrTerminateClusterSync}"}
    assert sorted(terminations) == ["Terminate the cluster", "Terminate the cluster after the failure"]
    for name, state in terminations.items():
        (retrier,) = [r for r in state.get("Retry", []) if GENERIC_ERROR in r["ErrorEquals"]]
        assert 1 <= retrier["MaxAttempts"] <= 5, name
        assert retrier["IntervalSeconds"] >= 1 and retrier["BackoffRate"] > 1, name


def test_emr_retriers_name_errors_as_step_functions_reports_them():
    """`EMR.` and the exception: one EMR's API model declares, or the SDK's generic one (see orchard_local.emr_sync)."""
    known = {f"{ERROR_PREFIX}{name}" for name in modeled_errors()} | {GENERIC_ERROR}
    emr_states = {name: state for name, state in states().items() if "elasticmapreduce" in state.get("Resource", "")
                  or state.get("Resource", "").startswith("${Emr")}
    retried = {error for state in emr_states.values() for retrier in state.get("Retry", [])
               for error in retrier["ErrorEquals"]}
    assert retried and retried <= known


def test_every_retry_names_its_errors_and_is_bounded():
    for name, state in states().items():
        for retrier in state.get("Retry", []):
            assert "States.ALL" not in retrier["ErrorEquals"], name
            assert 1 <= retrier["MaxAttempts"] <= 5, name


def test_every_failure_is_notified_and_ends_in_the_fail_state_with_the_original_error():
    ends = {path[-1] for name in states() for path in paths_from(name)}
    assert ends == {"Record the run's metrics", "Fail the run"}
    for path in paths_from("Prepare the run"):
        if path[-1] == "Fail the run":
            assert "Notify of the failure" in path
    assert states()["Fail the run"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
