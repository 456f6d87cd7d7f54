"""Draw the state machine as a Mermaid flowchart, from the ASL itself, and keep README.md's copy in sync.

    python -m tools.mermaid --write     # regenerate the diagram in README.md (make docs)
    python -m tools.mermaid --check     # exit 1 when README.md's diagram is out of date
    python -m tools.mermaid --print     # print the diagram

The template is rendered as local_runner/template.py renders it for a deployment, with each placeholder's
name as its value, so the drawing depends on the ASL alone. Every state type is drawn generically: Task,
Pass, Wait, Choice (one edge per rule, and the default), Catch edges (dotted), Map (inline or distributed,
its ItemProcessor as a subgraph), Parallel (a subgraph per branch), Succeed and Fail.

``flowchart(definition, overlay)`` also draws one execution's path (see local_runner/results.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from local_runner.template import ASL_TEMPLATE, placeholders, render

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
BEGIN_MARKER = "<!-- BEGIN_SFN_DIAGRAM -->"
END_MARKER = "<!-- END_SFN_DIAGRAM -->"

# Words Mermaid's flowchart grammar reserves: a state named like one gets a prefixed id.
RESERVED_IDS = frozenset(
    {"end", "graph", "flowchart", "subgraph", "direction", "style", "class", "classdef", "click", "linkstyle"}
)
STYLES = (
    "classDef succeed fill:#e8f5e9,stroke:#2e7d32,color:#000",
    "classDef fail fill:#fdecea,stroke:#c62828,color:#000",
    "classDef terminal fill:#eeeeee,stroke:#616161,color:#000",
)
VISITED_STYLE = "classDef visited fill:#e3f2fd,stroke:#1565c0,stroke-width:3px,color:#000"
TAKEN_EDGE_STYLE = "stroke:#1565c0,stroke-width:3px"
CONTAINERS = ("Map", "Parallel")
# (from, to, through a Catch): state names; None is the start or the end of the other state's scope.
Transition = tuple[str | None, str | None, bool]


@dataclass(frozen=True)
class Overlay:
    """One execution drawn over the machine: how often each state was entered, and the transitions taken."""

    visits: Mapping[str, int] = field(default_factory=dict)
    transitions: frozenset[Transition] = frozenset()


# --- the ASL -----------------------------------------------------------------------------------------


def load_definition(template: Path = ASL_TEMPLATE) -> dict:
    """The state machine as Terraform would deploy it, each placeholder standing for itself."""
    text = template.read_text(encoding="utf-8")
    return json.loads(render(text, {name: name for name in placeholders(text)}))


def scopes(definition: Mapping) -> Iterator[tuple[str | None, Mapping]]:
    """Every ``{StartAt, States}`` of the machine with the container state it belongs to (None: the top)."""
    yield None, definition
    for name, state in definition.get("States", {}).items():
        for inner in _inner_machines(state):
            for owner, scope in scopes(inner):
                yield (name if owner is None else owner), scope


def _inner_machines(state: Mapping) -> list[Mapping]:
    if state.get("Type") == "Map":
        return [state.get("ItemProcessor") or state.get("Iterator") or {}]
    if state.get("Type") == "Parallel":
        return list(state.get("Branches", []))
    return []


@dataclass(frozen=True)
class Exit:
    """One way out of a state: to another state (``target``) or out of its scope (None)."""

    target: str | None
    label: str = ""
    caught: bool = False


def exits(state: Mapping) -> list[Exit]:
    """Where a state can go next, in the order the ASL lists them."""
    kind = state.get("Type")
    found: list[Exit] = []
    if kind == "Choice":
        found += [Exit(rule.get("Next"), condition_text(rule)) for rule in state.get("Choices", [])]
        if state.get("Default"):
            found.append(Exit(state["Default"], "default"))
    elif state.get("Next"):
        found.append(Exit(state["Next"]))
    elif state.get("End") is True:
        found.append(Exit(None))
    for catcher in state.get("Catch", []):
        errors = ", ".join(catcher.get("ErrorEquals", []))
        found.append(Exit(catcher.get("Next"), f"catch {errors}", caught=True))
    return found


COMPARATORS = {
    "Equals": "==",
    "LessThan": "<",
    "GreaterThan": ">",
    "LessThanEquals": "<=",
    "GreaterThanEquals": ">=",
    "Matches": "matches",
}


def condition_text(rule: Mapping) -> str:
    """A Choice rule in a short readable form: ``$.allSucceeded == true``, ``not (...)``, ``a and b``."""
    if "Condition" in rule:  # JSONata
        return expression(rule["Condition"])
    if "And" in rule or "Or" in rule:
        joiner = " and " if "And" in rule else " or "
        return joiner.join(f"({condition_text(inner)})" for inner in rule.get("And") or rule.get("Or"))
    if "Not" in rule:
        return f"not ({condition_text(rule['Not'])})"
    variable = rule.get("Variable", "$")
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment"):
            continue
        if key.startswith("Is"):
            return f"{variable} is {'' if value else 'not '}{key[2:].lower()}"
        for suffix, operator in COMPARATORS.items():
            if key.endswith(suffix) or key.endswith(suffix + "Path"):
                operand = value if key.endswith("Path") else json.dumps(value)
                return f"{variable} {operator} {operand}"
    return variable


def describe(state: Mapping) -> str:
    """The second line of a state's box: what it does."""
    kind = str(state.get("Type"))
    if kind == "Task":
        resource = str(state.get("Resource", ""))
        if ":::" in resource:
            return resource.split(":::", 1)[1]
        return "lambda function" if resource.startswith("arn:aws:lambda:") else resource
    if kind == "Fail":
        error = state.get("Error") or state.get("ErrorPath")
        return f"Fail: {error}" if error else "Fail"
    if kind == "Map":
        return map_text(state)
    if kind == "Wait":
        for field, unit in (("Seconds", " s"), ("SecondsPath", ""), ("Timestamp", ""), ("TimestampPath", "")):
            if field in state:
                return f"Wait {expression(state[field])}{unit}"
    return kind


def expression(value: object) -> str:
    """A JSONata expression without its ``{% %}``; anything else as written."""
    text = str(value)
    if text.startswith("{%") and text.endswith("%}"):
        return text[2:-2].strip()
    return text


def map_text(state: Mapping) -> str:
    processor = state.get("ItemProcessor") or {}
    mode = str((processor.get("ProcessorConfig") or {}).get("Mode", "INLINE")).lower()
    parts = [f"Map, {mode}"]
    reader = state.get("ItemReader")
    if reader:
        input_type = (reader.get("ReaderConfig") or {}).get("InputType")
        source = str(reader.get("Resource", "")).split(":::", 1)[-1]
        parts.append(f"items from {source}" + (f" ({input_type})" if input_type else ""))
    else:
        parts.append(f"items {expression(state.get('ItemsPath') or state.get('Items') or '$')}")
    if state.get("ItemBatcher"):
        parts.append("batched")
    if state.get("MaxConcurrency") is not None or state.get("MaxConcurrencyPath"):
        parts.append(f"at most {state.get('MaxConcurrency', state.get('MaxConcurrencyPath'))} at once")
    if state.get("ResultWriter"):
        writer = str(state["ResultWriter"].get("Resource", "")).split(":::", 1)[-1]
        parts.append(f"results to {writer}")
    return ", ".join(parts)


# --- the drawing -------------------------------------------------------------------------------------


def _text(label: str) -> str:
    """A label Mermaid shows as written (inside double quotes)."""
    return label.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


@dataclass
class _Drawing:
    overlay: Overlay | None
    lines: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    edges: list[tuple[str, str, str, bool, Transition]] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)

    def new_id(self, wanted: str) -> str:
        base = re.sub(r"\W", "_", wanted) or "state"
        if base[0].isdigit() or base.lower() in RESERVED_IDS:
            base = f"s_{base}"
        candidate, counter = base, 1
        while candidate in self.used:
            counter += 1
            candidate = f"{base}_{counter}"
        self.used.add(candidate)
        return candidate

    def state_id(self, name: str) -> str:
        if name not in self.ids:
            self.ids[name] = self.new_id(name)
        return self.ids[name]

    def tag(self, node: str, css_class: str) -> None:
        self.classes.setdefault(css_class, []).append(node)

    def label(self, name: str, detail: str) -> str:
        parts = [_text(name)]
        if detail and detail != name:
            parts.append(_text(detail))
        visits = self.overlay.visits.get(name, 0) if self.overlay else 0
        if visits > 1:
            parts.append(f"×{visits}")
        return "<br/>".join(parts)

    def scope(self, owner: str | None, machine: Mapping, indent: str) -> None:
        """Draw one ``{StartAt, States}``: a start dot, the states, an end dot if a state ends it."""
        start = self.new_id(f"{owner}_start" if owner else "start")
        self.lines.append(f'{indent}{start}(("start"))')
        self.tag(start, "terminal")
        end: list[str] = []  # created on first use: a scope whose states all fail has no end

        def end_id() -> str:
            if not end:
                end.append(self.new_id(f"{owner}_end" if owner else "finish"))
                self.lines.append(f'{indent}{end[0]}(("end"))')
                self.tag(end[0], "terminal")
            return end[0]

        states = machine.get("States", {})
        if machine.get("StartAt") in states:
            self.edges.append(
                (start, self.state_id(machine["StartAt"]), "", False, (None, machine["StartAt"], False))
            )
        for name, state in states.items():
            self.state(name, state, indent)
        for name, state in states.items():
            for way in exits(state):
                target = self.state_id(way.target) if way.target else end_id()
                self.edges.append(
                    (self.state_id(name), target, way.label, way.caught, (name, way.target, way.caught))
                )

    def state(self, name: str, state: Mapping, indent: str) -> None:
        node = self.state_id(name)
        kind = state.get("Type")
        if self.overlay and self.overlay.visits.get(name):
            self.tag(node, "visited")
        if kind in CONTAINERS:
            self.lines.append(f'{indent}subgraph {node}["{self.label(name, describe(state))}"]')
            self.lines.append(f"{indent}    direction TB")
            machines = _inner_machines(state)
            for index, inner in enumerate(machines, start=1):
                if kind == "Parallel":
                    branch = self.new_id(f"{name}_branch_{index}")
                    self.lines.append(f'{indent}    subgraph {branch}["branch {index}"]')
                    self.scope(name, inner, indent + "        ")
                    self.lines.append(f"{indent}    end")
                else:
                    self.scope(name, inner, indent + "    ")
            self.lines.append(f"{indent}end")
            return
        if kind == "Choice":
            self.lines.append(f'{indent}{node}{{"{self.label(name, "")}"}}')
        elif kind in ("Succeed", "Fail"):
            self.lines.append(f'{indent}{node}(["{self.label(name, describe(state))}"])')
            self.tag(node, "succeed" if kind == "Succeed" else "fail")
        else:
            self.lines.append(f'{indent}{node}["{self.label(name, describe(state))}"]')

    def render(self) -> str:
        out = ["flowchart TD", *self.lines]
        taken = []
        for index, (source, target, label, caught, transition) in enumerate(self.edges):
            arrow = "-.->" if caught else "-->"
            text = f'|"{_text(label)}"|' if label else ""
            out.append(f"    {source} {arrow}{text} {target}")
            if self.overlay and transition in self.overlay.transitions:
                taken.append(str(index))
        out += [f"    {style}" for style in STYLES]
        if self.overlay:
            out.append(f"    {VISITED_STYLE}")
        # Later classes win: a visited Fail state shows as failed, with the visited border.
        for css_class in ("terminal", "succeed", "fail", "visited"):
            if self.classes.get(css_class):
                out.append(f"    class {','.join(self.classes[css_class])} {css_class}")
        if taken:
            out.append(f"    linkStyle {','.join(taken)} {TAKEN_EDGE_STYLE}")
        return "\n".join(out) + "\n"


def flowchart(definition: Mapping, overlay: Overlay | None = None) -> str:
    """The state machine as Mermaid ``flowchart`` source; with an overlay, one execution's path on it."""
    drawing = _Drawing(overlay)
    drawing.scope(None, definition, "    ")
    return drawing.render()


def readme_section(definition: Mapping) -> str:
    """What goes between the README's markers."""
    return (
        "<!-- Generated from sfn/image_downloader.asl.json by `make docs` (tools/mermaid.py). -->\n"
        f"```mermaid\n{flowchart(definition)}```\n"
    )


# --- README ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the diagram in the README")
    mode.add_argument("--check", action="store_true", help="exit 1 if the README's diagram is out of date")
    mode.add_argument("--print", action="store_true", help="print the diagram")
    parser.add_argument("--asl", type=Path, default=ASL_TEMPLATE, help="ASL template (default: %(default)s)")
    parser.add_argument("--readme", type=Path, default=README, help="README to keep in sync")
    args = parser.parse_args(argv)

    # tfdocs reads HCL (python-hcl2): a dev tool the local run's light virtualenv, which draws diagrams
    # with this module, does not install.
    from tools.tfdocs import MarkersMissing, updated_readme

    definition = load_definition(args.asl)
    if args.print:
        sys.stdout.write(flowchart(definition))
        return 0
    try:
        current = args.readme.read_text(encoding="utf-8")
        wanted = updated_readme(current, readme_section(definition), BEGIN_MARKER, END_MARKER)
    except (OSError, MarkersMissing) as error:
        print(f"mermaid: {args.readme}: {error}", file=sys.stderr)
        return 2
    if current == wanted:
        return 0
    if not args.write:
        print(
            f"mermaid: the state machine diagram in {args.readme} is out of date: run `make docs`",
            file=sys.stderr,
        )
        return 1
    args.readme.write_text(wanted, encoding="utf-8")
    print(f"mermaid: updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
