"""One execution's path through the state machine, read from the execution history Step Functions keeps
(moto keeps the same events): the top-level states in the order they ran, and the diagram with that path
drawn on it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tools.mermaid import Overlay, Transition, exits, flowchart, scopes

# History events after which the next state entered is the first of its scope.
SCOPE_STARTS = frozenset({"ExecutionStarted", "MapIterationStarted", "ParallelStateStarted", "MapRunStarted"})


@dataclass(frozen=True)
class Step:
    """One top-level state the execution entered."""

    name: str
    type: str
    seconds: float | None
    note: str = ""


@dataclass(frozen=True)
class ExecutionPath:
    steps: tuple[Step, ...]
    overlay: Overlay
    events: int

    def line(self) -> str:
        """``ValidateAndBatch → DownloadBatches (3 iterations) → ...``: for the run's summary."""
        return " → ".join(f"{step.name} ({step.note})" if step.note else step.name for step in self.steps)

    def table(self) -> str:
        width = max((len(step.name) for step in self.steps), default=0)
        rows = []
        for number, step in enumerate(self.steps, start=1):
            seconds = f"{step.seconds:7.3f} s" if step.seconds is not None else " " * 9
            rows.append(f"{number:>3}  {step.name:<{width}}  {step.type:<8} {seconds}  {step.note}".rstrip())
        return "\n".join(rows) + "\n"

    def markdown(self, definition: Mapping, title: str) -> str:
        return (
            f"# {title}\n\n"
            f"The states this execution entered, in order ({self.events} history events), and the state "
            "machine with that path drawn in blue.\n\n"
            f"```text\n{self.table()}```\n\n"
            f"```mermaid\n{flowchart(definition, self.overlay)}```\n"
        )


def history_events(sfn: Any, execution_arn: str) -> list[dict]:
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


def execution_path(events: Sequence[Mapping], definition: Mapping) -> ExecutionPath:
    """The path of one execution, from its history events and its state machine definition."""
    by_id = {event["id"]: event for event in events}
    entered = [event for event in events if "stateEnteredEventDetails" in event]
    visits = Counter(event["stateEnteredEventDetails"]["name"] for event in entered)
    transitions = {_transition_into(event, by_id) for event in entered}
    transitions |= _transitions_out_of_scopes(events, definition)
    return ExecutionPath(
        steps=tuple(_steps(events, definition)),
        overlay=Overlay(visits=dict(visits), transitions=frozenset(transitions)),
        events=len(events),
    )


def _transition_into(event: Mapping, by_id: Mapping[int, Mapping]) -> Transition:
    """Follow ``previousEventId`` back to the state this one was entered from (None: its scope's start);
    through a Catch when that state's last event before it exited was a failure."""
    name = event["stateEnteredEventDetails"]["name"]
    previous = by_id.get(event.get("previousEventId", 0))
    while previous is not None:
        if "stateExitedEventDetails" in previous:
            before = by_id.get(previous.get("previousEventId", 0)) or {}
            caught = str(before.get("type", "")).endswith(("Failed", "TimedOut", "Aborted"))
            return previous["stateExitedEventDetails"]["name"], name, caught
        if previous["type"] in SCOPE_STARTS:
            break
        previous = by_id.get(previous.get("previousEventId", 0))
    return None, name, False


def _transitions_out_of_scopes(events: Sequence[Mapping], definition: Mapping) -> set[Transition]:
    """A state that exited and ends its scope (``End: true``) took the edge to that scope's end."""
    ending = {
        name
        for _, machine in scopes(definition)
        for name, state in machine.get("States", {}).items()
        if any(way.target is None and not way.caught for way in exits(state))
    }
    exited = {
        event["stateExitedEventDetails"]["name"] for event in events if "stateExitedEventDetails" in event
    }
    return {(name, None, False) for name in ending & exited}


def _steps(events: Sequence[Mapping], definition: Mapping) -> list[Step]:
    top = definition.get("States", {})
    inner_names = {
        name: owner for owner, machine in scopes(definition) if owner for name in machine.get("States", {})
    }
    steps: list[Step] = []
    open_steps: dict[str, tuple[int, Any]] = {}
    iterations: Counter[str] = Counter()
    inner_visits: dict[str, Counter[str]] = {}
    error = ""
    for event in events:
        kind = event["type"]
        if "stateEnteredEventDetails" in event:
            name = event["stateEnteredEventDetails"]["name"]
            if name in top:
                open_steps[name] = (len(steps), event["timestamp"])
                steps.append(Step(name, str(top[name].get("Type")), None))
            elif name in inner_names:
                inner_visits.setdefault(inner_names[name], Counter())[name] += 1
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            if name in open_steps:
                index, started = open_steps.pop(name)
                seconds = (event["timestamp"] - started).total_seconds()
                steps[index] = Step(steps[index].name, steps[index].type, seconds)
        elif kind == "MapIterationStarted":
            iterations[event["mapIterationStartedEventDetails"].get("name", "")] += 1
        elif kind.startswith("Execution") and kind.endswith(("Failed", "TimedOut", "Aborted")):
            details = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
            error = details.get("error", kind)
    return [
        _with_note(step, iterations, inner_visits, error, last=index == len(steps) - 1)
        for index, step in enumerate(steps)
    ]


def _with_note(
    step: Step, iterations: Counter[str], inner_visits: Mapping[str, Counter[str]], error: str, *, last: bool
) -> Step:
    notes = []
    if iterations.get(step.name):
        notes.append(f"{iterations[step.name]} iteration{'s' if iterations[step.name] != 1 else ''}")
    inner = inner_visits.get(step.name)
    if inner:
        notes.append(", ".join(f"{name} ×{count}" for name, count in inner.items()))
    if last and error:
        notes.append(error)
    return Step(step.name, step.type, step.seconds, ": ".join(notes))
