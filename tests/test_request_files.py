"""Every request file the local run cannot read is exit 2 with one line naming the problem, and every
request it can read reaches the batch step, which names the bad entry (issue 18, rows 8 and 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_runner.__main__ import main

BASE = "https://example.com/"


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "request.json"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "is empty: write the request, e.g. {"),
        (b"  \n", "is empty"),
        (
            '{"baseUrl": "https://example.com/", "resourcePaths": ["é.gif"]}'.encode("latin-1"),
            "not UTF-8 text",
        ),
        (b'{"resourcePaths": ' + b"[" * 1200 + b"]" * 1200 + b"}", "nested too deeply"),
        (b'{"lambdaConcur": ' + b"9" * 5000 + b"}", "a number is longer than 4300 digits"),
        (b'{"lambdaConcur": NaN}', "NaN is not JSON"),
        (b'{"lambdaConcur": 1,}', "is not valid JSON: Expecting property name"),
    ],
    ids=["empty", "blank", "latin-1", "too-deep", "long-number", "nan", "bad-json"],
)
def test_an_unreadable_request_file_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, expected: str
) -> None:
    request = write(tmp_path, data)

    with pytest.raises(SystemExit) as exited:
        main(["--input", str(request), "--out", str(tmp_path / "run"), "--quiet"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {request} ")
    assert expected in err
    assert "Traceback" not in err


def test_nesting_900_levels_inside_resource_paths_is_invalid_input_naming_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = b"[" * 900 + b"]" * 900
    request = write(
        tmp_path,
        b'{"baseUrl": "%s", "lambdaConcur": 1, "resourcePaths": ["a.gif", %s]}' % (BASE.encode(), nested),
    )
    out = tmp_path / "run"

    assert main(["--input", str(request), "--out", str(out), "--quiet"]) == 2

    report = json.loads((out / "report.json").read_text())
    assert report["error"] == "InvalidInput"
    assert report["invalidFields"] == [
        {"field": "resourcePaths[1]", "problem": "must be a string, got a list"}
    ]


def test_an_oversize_request_with_bad_entries_is_staged_and_the_batch_step_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths: list[object] = [f"p/{index:040d}.gif" for index in range(6000)]
    paths[7] = 42
    paths[9] = "two\nlines.gif"
    request = write(
        tmp_path, json.dumps({"baseUrl": BASE, "lambdaConcur": 1, "resourcePaths": paths}).encode()
    )
    assert request.stat().st_size > 256 * 1024
    out = tmp_path / "run"

    assert main(["--input", str(request), "--out", str(out), "--quiet"]) == 2

    captured = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert report["error"] == "InvalidInput"
    staged = next(line for line in captured.err.splitlines() if line.startswith("Request too large"))
    reference = staged.rsplit(" ", 1)[1]
    assert [entry["field"] for entry in report["invalidFields"]] == [
        f"resourcePathsFrom {reference} item 7",
        f"resourcePathsFrom {reference} item 9",
    ]
    assert report["invalidFields"][0]["problem"] == "must be a string, got the number 42"
    assert "control characters" in report["invalidFields"][1]["problem"]
