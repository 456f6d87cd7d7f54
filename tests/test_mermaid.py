"""The state machine diagram is drawn from the ASL itself, and README.md shows the current one."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from local_runner.template import ASL_TEMPLATE
from tools import mermaid
from tools.mermaid import Overlay, flowchart, load_definition

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE = re.compile(
    r'^\s*(?:subgraph\s+)?(\w+)(?:\[\("|\(\["|\(\("|\["|\{")(.*?)(?:"\)\]|"\]\)|"\)\)|"\]|"\})$'
)
EDGE = re.compile(r"^\s*(\w+) (-->|-\.->)(?:\|\"(.*?)\"\|)? (\w+)$")

DISTRIBUTED = {
    "StartAt": "ListImages",
    "States": {
        "ListImages": {"Type": "Pass", "Next": "DownloadAll"},
        "DownloadAll": {
            "Type": "Map",
            "ItemReader": {
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSON"},
                "Parameters": {"Bucket": "b", "Key": "k"},
            },
            "ItemBatcher": {"MaxItemsPerBatch": 100},
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b"}},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Download",
                "States": {
                    "Download": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Crashed"}],
                        "End": True,
                    },
                    "Crashed": {"Type": "Pass", "End": True},
                },
            },
            "Catch": [{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Broken"}],
            "Next": "Both",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Notify", "States": {"Notify": {"Type": "Task", "Resource": "x", "End": True}}},
                {
                    "StartAt": "Pause",
                    "States": {
                        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Give up"},
                        "Give up": {"Type": "Fail", "Error": "Nope"},
                    },
                },
            ],
            "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.failed", "NumericGreaterThan": 0},
                        {"Not": {"Variable": "$.quiet", "IsPresent": True}},
                    ],
                    "Next": "Broken",
                },
                {"Variable": "$.status", "StringEquals": 'say "ok"', "Next": "Done"},
            ],
            "Default": "Done",
        },
        "Broken": {"Type": "Fail", "ErrorPath": "$.error"},
        "Done": {"Type": "Succeed"},
    },
}


def parse(source: str) -> tuple[dict[str, str], list[tuple[str, str, str | None]]]:
    """Node ids with their names (the first line of the label), and the edges, from Mermaid source;
    fails on a line that is neither, or on subgraph/end that do not pair up."""
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str | None]] = []
    depth = 0
    lines = source.splitlines()
    assert lines[0] == "flowchart TD"
    for line in lines[1:]:
        stripped = line.strip()
        if stripped == "end":
            depth -= 1
            assert depth >= 0, "an `end` closes no subgraph"
        elif stripped.startswith(("classDef ", "class ", "linkStyle ", "direction ")):
            continue
        elif edge := EDGE.match(line):
            edges.append((edge.group(1), edge.group(4), edge.group(3)))
        elif node := NODE.match(line):
            assert node.group(1) not in nodes, f"{node.group(1)} declared twice"
            assert node.group(1).lower() != "end"
            nodes[node.group(1)] = node.group(2).split("<br/>")[0]
            depth += stripped.startswith("subgraph ")
        else:
            pytest.fail(f"not a Mermaid line this tool writes: {line!r}")
    assert depth == 0, "a subgraph is not closed"
    for source_id, target_id, _ in edges:
        assert source_id in nodes and target_id in nodes, (
            f"edge to an undeclared node: {source_id} {target_id}"
        )
    return nodes, edges


def machines(machine: Mapping) -> Iterator[Mapping]:
    yield machine
    for state in machine["States"].values():
        inner = [state["ItemProcessor"]] if state["Type"] == "Map" else state.get("Branches", [])
        for branch in inner:
            yield from machines(branch)


def transitions(definition: Mapping) -> set[tuple[str, str]]:
    """Every state-to-state transition the ASL allows: Next, Default, each Choice rule, each Catch."""
    found = set()
    for machine in machines(definition):
        for name, state in machine["States"].items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [rule["Next"] for rule in state.get("Choices", [])]
            targets += [catcher["Next"] for catcher in state.get("Catch", [])]
            found |= {(name, target) for target in targets if target}
    return found


def state_names(definition: Mapping) -> set[str]:
    return {name for machine in machines(definition) for name in machine["States"]}


@pytest.mark.parametrize("definition", [load_definition(), DISTRIBUTED], ids=["asl", "distributed"])
def test_every_state_and_every_transition_of_the_asl_is_drawn(definition: dict) -> None:
    nodes, edges = parse(flowchart(definition))

    markers = {"start", "end"}
    drawn_states = {name for name in nodes.values() if name not in markers and not name.startswith("branch ")}
    assert drawn_states == state_names(definition)
    drawn = {(nodes[a], nodes[b]) for a, b, _ in edges if not {nodes[a], nodes[b]} & markers}
    assert drawn == transitions(definition)


def test_readme_shows_the_diagram_of_the_current_asl() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert mermaid.BEGIN_MARKER in readme, "README.md has no state machine diagram section"
    section = readme.split(mermaid.BEGIN_MARKER)[1].split(mermaid.END_MARKER)[0]
    assert section.strip() == mermaid.readme_section(load_definition()).strip(), "run `make docs`"


def test_check_fails_when_the_asl_changes_without_the_readme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asl, readme = tmp_path / "machine.asl.json", tmp_path / "README.md"
    shutil.copy(ASL_TEMPLATE, asl)
    readme.write_text(f"# Module\n\n{mermaid.BEGIN_MARKER}\n{mermaid.END_MARKER}\n")
    paths = ["--asl", str(asl), "--readme", str(readme)]
    assert mermaid.main(["--write", *paths]) == 0
    assert mermaid.main(["--check", *paths]) == 0

    # A Wait state in front of the first one: whatever the ASL's states are called.
    text = asl.read_text()
    first = re.search(r'"StartAt": "([^"]+)"', text).group(1)
    text = text.replace(f'"StartAt": "{first}"', '"StartAt": "Settle"', 1)
    settle = f'"Settle": {{"Type": "Wait", "Seconds": 1, "Next": "{first}"}},'
    asl.write_text(text.replace('"States": {', '"States": {\n' + settle, 1))

    assert mermaid.main(["--check", *paths]) == 1
    assert "make docs" in capsys.readouterr().err
    assert mermaid.main(["--write", *paths]) == 0
    assert mermaid.main(["--check", *paths]) == 0
    drawn = readme.read_text()
    assert "    start --> Settle\n" in drawn and f"    Settle --> {first}\n" in drawn


def test_a_readme_without_the_markers_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Module\n")

    assert mermaid.main(["--check", "--readme", str(readme)]) == 2
    assert mermaid.BEGIN_MARKER in capsys.readouterr().err


def test_maps_and_parallels_are_subgraphs_holding_their_states() -> None:
    source = flowchart(DISTRIBUTED)

    block = source.split('subgraph DownloadAll["')[1].split("\n    end\n")[0]
    assert block.startswith(
        "DownloadAll<br/>Map, distributed, items from s3:getObject (JSON), batched, results to s3:putObject"
    )
    assert 'Download["Download<br/>lambda:invoke"]' in block and 'Crashed["Crashed<br/>Pass"]' in block
    parallel = source.split('subgraph Both["')[1].split("\n    end\n")[0]
    assert parallel.count("subgraph ") == 2
    assert '"branch 1"' in parallel and '"branch 2"' in parallel
    assert 'Give_up(["Give up<br/>Fail: Nope"])' in parallel
    assert '    DownloadAll -.->|"catch States.ItemReaderFailed"| Broken' in source
    assert "    DownloadAll --> Both" in source


def test_choice_rules_label_their_edges() -> None:
    _, edges = parse(flowchart(DISTRIBUTED))

    labels = {label for source, _, label in edges if source == "Decide"}
    assert labels == {
        "($.failed #gt; 0) and (not ($.quiet is present))",
        "$.status == #quot;say \\#quot;ok\\#quot;#quot;",
        "default",
    }


def test_jsonata_expressions_are_shown_as_written() -> None:
    machine = {
        "QueryLanguage": "JSONata",
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $states.input.n > 1 %}", "Next": "Each"}],
            },
            "Each": {
                "Type": "Map",
                "Items": "{% $states.input.tasks %}",
                "ItemProcessor": {
                    "StartAt": "Nap",
                    "States": {"Nap": {"Type": "Wait", "Seconds": 2, "End": True}},
                },
                "End": True,
            },
        },
    }
    source = flowchart(machine)

    assert 'Pick -->|"$states.input.n #gt; 1"| Each' in source
    assert 'subgraph Each["Each<br/>Map, inline, items $states.input.tasks"]' in source
    assert 'Nap["Nap<br/>Wait 2 s"]' in source


def test_state_names_mermaid_would_misread_get_safe_ids() -> None:
    machine = {
        "StartAt": "end",
        "States": {
            "end": {"Type": "Pass", "Next": "2nd: check?"},
            "2nd: check?": {"Type": "Pass", "Next": 'say "hi"'},
            'say "hi"': {"Type": "Pass", "End": True},
        },
    }
    nodes, edges = parse(flowchart(machine))

    assert nodes == {
        "start": "start",
        "s_end": "end",
        "s_2nd__check_": "2nd: check?",
        "say__hi_": "say #quot;hi#quot;",
        "finish": "end",
    }
    assert [(source, target) for source, target, _ in edges] == [
        ("start", "s_end"),
        ("s_end", "s_2nd__check_"),
        ("s_2nd__check_", "say__hi_"),
        ("say__hi_", "finish"),
    ]


def test_an_overlay_marks_the_states_entered_and_the_transitions_taken() -> None:
    overlay = Overlay(
        visits={"ListImages": 1, "DownloadAll": 1, "Download": 3},
        transitions=frozenset({(None, "ListImages", False), ("ListImages", "DownloadAll", False)}),
    )

    source = flowchart(DISTRIBUTED, overlay)
    _, edges = parse(source)

    assert "class ListImages,DownloadAll,Download visited" in source
    assert 'Download["Download<br/>lambda:invoke<br/>×3"]' in source
    taken = re.search(r"linkStyle ([\d,]+) ", source).group(1).split(",")
    assert [edges[int(index)][:2] for index in taken] == [
        ("start", "ListImages"),
        ("ListImages", "DownloadAll"),
    ]
