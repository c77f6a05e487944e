"""The definition's shape: once the cluster may exist, every way out goes through its termination; once a cluster
slot may be held, every way out goes through its release; the only loop, the wait for a slot, is bounded."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from orchard_local import template as t
from orchard_local.emr_sync import ERROR_PREFIX, GENERIC_ERROR, modeled_errors

CREATE = "Create the EMR cluster"
TERMINATING_RESOURCES = {"${EmrTerminateClusterSync}", "${CleanUpFunctionArn}"}
TAKE = "Take a cluster slot"
HELD_CHOICE = "Does this run already hold a slot?"
WAIT_BOUND = "Has the run waited too long?"
CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"
# Step Functions names an optimized DynamoDB task's errors `DynamoDB.<exception>` ("Call DynamoDB APIs with Step
# Functions", exception prefix), the generic `DynamoDB.AmazonDynamoDBException` for those the SDK does not model.
DYNAMODB_GENERIC_ERROR = "DynamoDB.AmazonDynamoDBException"
DYNAMODB_ACTIONS = {"${DynamoDbUpdateItem}": "UpdateItem", "${DynamoDbGetItem}": "GetItem"}

States = dict[str, dict[str, Any]]


def states() -> States:
    return json.loads(t.DEFINITION.read_text())["States"]


def successors(state: dict[str, Any]) -> list[str]:
    """Every state control can pass to next: Next, each Catch, each Choice branch and Default."""
    following = [state["Next"]] if "Next" in state else []
    following += [catcher["Next"] for catcher in state.get("Catch", [])]
    following += [choice["Next"] for choice in state.get("Choices", [])]
    return following + ([state["Default"]] if "Default" in state else [])


def paths_from(name: str, seen: tuple[str, ...] = (), machine: States | None = None) -> Iterator[tuple[str, ...]]:
    """Every path from `name` to a state that ends the execution, each state at most once (a loop, the wait for a
    slot, is followed once round: going round again reaches the same states)."""
    machine = machine or states()
    path = (*seen, name)
    state = machine[name]
    if state.get("End") or state["Type"] in ("Succeed", "Fail"):
        yield path
    for successor in successors(state):
        if successor not in path:
            yield from paths_from(successor, path, machine)


def terminates(state: dict[str, Any]) -> bool:
    return state.get("Resource") in TERMINATING_RESOURCES


def releases(state: dict[str, Any]) -> bool:
    """Whether the state gives the execution's cluster slot back."""
    parameters = state.get("Parameters", {})
    return (state.get("Resource") == "${DynamoDbUpdateItem}" and "REMOVE #holder" in parameters["UpdateExpression"]
            and parameters["ExpressionAttributeNames"]["#holder.$"] == "$$.Execution.Id")


def slot_held_from(machine: States) -> set[str]:
    """The states control reaches once the execution may hold a slot: after "Take a cluster slot" succeeded, after
    it failed otherwise than on its condition (its write may have landed before the error), and where the execution
    finds it holds one already."""
    take = machine[TAKE]
    held = {take["Next"]} | {c["Next"] for c in take["Catch"] if c["ErrorEquals"] != [CONDITION_FAILED]}
    return held | {choice["Next"] for choice in machine[HELD_CHOICE]["Choices"] if "StringMatches" in choice}


def paths_without_release(machine: States) -> list[tuple[str, ...]]:
    """Every path on which the execution may hold a slot and ends without a state that releases it."""
    return [path for start in slot_held_from(machine) for path in paths_from(start, machine=machine)
            if not any(releases(machine[name]) for name in path)]


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


def test_every_path_from_taking_a_slot_to_an_end_releases_it():
    machine = states()
    assert slot_held_from(machine) >= {CREATE, "Release the cluster slot after the failure"}
    assert paths_without_release(machine) == []


@pytest.mark.parametrize("release", ["Release the cluster slot", "Release the cluster slot after the failure"])
def test_a_definition_without_one_of_its_releases_fails_the_check(release):
    """Each release bypassed in turn (whatever led to it goes where it led): the check finds the unreleased paths."""
    machine = copy.deepcopy(states())
    bypass = machine.pop(release)["Next"]
    for state in machine.values():
        for transition in [state, *state.get("Catch", []), *state.get("Choices", [])]:
            if transition.get("Next") == release:
                transition["Next"] = bypass

    assert paths_without_release(machine) != []


def test_a_cluster_is_created_only_with_a_slot():
    into_create = {name for name, state in states().items() if CREATE in successors(state)}
    assert into_create == {TAKE, HELD_CHOICE}
    assert states()[TAKE]["Next"] == CREATE


def test_a_slot_is_released_only_once_the_cluster_is_terminated():
    for path in paths_from(CREATE):
        first_release = next(i for i, name in enumerate(path) if releases(states()[name]))
        assert any(terminates(states()[name]) for name in path[:first_release]), " -> ".join(path)


def test_the_only_loop_is_the_wait_for_a_slot_and_it_is_bounded():
    """Without the bound's Choice the graph has no cycle: every way round passes it, and it leads out on the
    failure path once the wait has lasted its polls."""
    machine = states()

    def cycle_through(name: str, path: tuple[str, ...]) -> bool:
        return any(successor in path or cycle_through(successor, (*path, successor))
                   for successor in successors(machine[name]) if successor != WAIT_BOUND)

    assert not any(cycle_through(name, (name,)) for name in machine if name != WAIT_BOUND)
    assert any(successor == TAKE for successor in successors(machine[WAIT_BOUND]))
    (bound,) = machine[WAIT_BOUND]["Choices"]
    assert bound["Variable"] == "$.slot_wait.polls" and bound["NumericGreaterThanEqualsPath"] == "$.slot_wait.max_polls"
    timed_out = machine[bound["Next"]]
    assert timed_out["Parameters"]["Error"] == "SlotWaitTimedOut" and timed_out["ResultPath"] == "$.error"
    assert all("Notify of the failure" in path for path in paths_from(bound["Next"]))


def test_dynamodb_retriers_name_errors_as_step_functions_reports_them():
    """`DynamoDB.` and an exception DynamoDB's API model declares for the task's operation, or the generic one; a
    failed condition is an answer, never retried."""
    model = botocore.session.get_session().get_service_model("dynamodb")
    tasks = {name: state for name, state in states().items() if state.get("Resource") in DYNAMODB_ACTIONS}
    assert len(tasks) == 4
    for name, state in tasks.items():
        operation = model.operation_model(DYNAMODB_ACTIONS[state["Resource"]])
        known = {f"DynamoDB.{shape.name}" for shape in operation.error_shapes} | {DYNAMODB_GENERIC_ERROR}
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert retried <= known - {CONDITION_FAILED}, name
        assert {"DynamoDB.ThrottlingException", "DynamoDB.ProvisionedThroughputExceededException",
                "DynamoDB.InternalServerError"} <= retried, name


def test_the_readme_diagram_draws_every_transition_of_the_definition():
    """Each arrow between two states in README.md's mermaid diagram is a transition of the definition (Next, Catch,
    Choice), and each transition is drawn: the diagram cannot drift from the workflow."""
    text = (t.ROOT / "README.md").read_text()
    start = text.index("```mermaid")
    lines = text[start:text.index("```", start + 3)].splitlines()[2:]
    node = r'(\w+)(?:\(\["([^"]*)"\]\)|\["([^"]*)"\]|\{"([^"]*)"\})?'  # id, and its label: (["..."]), ["..."], {"..."}
    arrow = r"\s*(?:-->|-\. [^.]+ \.->|-- [^-]+ -->)\s*"  # plain, dotted with a label, or with a label
    labels: dict[str, str] = {}
    arrows = set()
    for line in lines:
        match = re.fullmatch(rf"\s*{node}{arrow}{node}\s*", line)
        assert match, line
        source, target = match.group(1), match.group(5)
        for name, label in ((source, match.group(2, 3, 4)), (target, match.group(6, 7, 8))):
            if any(label):
                labels[name] = re.sub(r" \(.*\)$", "", next(filter(None, label)))  # "(by tag)" is a gloss
        arrows.add((source, target))
    machine = states()
    drawn = {(labels[a], labels[b]) for a, b in arrows if labels.get(a) in machine and labels.get(b) in machine}
    transitions = {(name, successor) for name, state in machine.items() for successor in successors(state)}
    assert drawn == transitions
    assert set(machine) <= set(labels.values())
