"""Saving a local run never loses its report: a path that is a file and a folder of another, a segment
over 255 bytes, or any other unsafe name gets a safe local name, and report.json says which (issue 18,
row 7)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from local_runner.__main__ import main
from local_runner.names import MAX_NAME_BYTES, safe_local_names
from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer

CHINESE = "中" * 32  # 96 bytes as UTF-8, 288 as the percent-encoded segment of its S3 key


def renamed_reasons(keys: list[str]) -> dict[str, str]:
    names, renamed = safe_local_names(keys)
    assert len(set(names.values())) == len(keys)
    for name in names.values():
        assert all(segment not in ("", ".", "..") for segment in name.split("/"))
        assert all(len(segment.encode()) <= MAX_NAME_BYTES for segment in name.split("/"))
    return {entry.key: entry.reason for entry in renamed}


def test_a_file_that_is_also_a_folder_of_another_image_is_renamed() -> None:
    reasons = renamed_reasons(["http/h/a", "http/h/a/b.gif"])
    assert reasons == {"http/h/a": "the file would also be a folder of another image"}


def test_a_segment_over_255_bytes_is_shortened_and_keeps_its_extension() -> None:
    key = f"http/h/{quote(CHINESE)}.gif"
    names, renamed = safe_local_names([key])
    assert [entry.reason for entry in renamed] == [
        f"a segment of the path is longer than {MAX_NAME_BYTES} bytes"
    ]
    assert names[key].endswith(".gif") and len(names[key].split("/")[-1].encode()) <= MAX_NAME_BYTES


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        (["http/h/a//b.gif"], "a segment of the path is empty, '.' or '..'"),
        (["http/h/x/./b.gif"], "a segment of the path is empty, '.' or '..'"),
        (["http/h/A.gif", "http/h/a.gif"], "the name differs from another image's only in case"),
    ],
)
def test_other_unsafe_names_are_renamed(keys: list[str], reason: str) -> None:
    assert list(renamed_reasons(keys).values()) == [reason]


def test_safe_names_are_left_alone() -> None:
    assert renamed_reasons(["http/h/a/x.gif", "http/h/b/x.gif", "http/h/c.gif?v=1"]) == {}


def test_a_run_with_unsafe_names_keeps_every_image_and_its_report(
    tmp_path: Path, image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    encoded = quote(CHINESE) + ".gif"
    for path in ("a", "a/b.gif", encoded):
        image_server.add_image(path)
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "baseUrl": image_server.base_url,
                "resourcePaths": ["a", "a/b.gif", CHINESE + ".gif"],
                "lambdaConcur": 2,
            }
        )
    )
    out = tmp_path / "run"

    exit_code = main(["--input", str(request), "--allow-private-addresses", "--out", str(out), "--quiet"])

    printed = capsys.readouterr().out
    assert exit_code == 0, printed
    report = json.loads((out / "report.json").read_text())
    renamed = {Path(entry["key"]).name: entry for entry in report["imagesRenamed"]}
    assert set(renamed) == {"a", f"{encoded}"}
    assert renamed["a"]["reason"] == "the file would also be a folder of another image"
    assert (out / "images" / renamed["a"]["savedAs"]).read_bytes() == flag_gif("a")
    assert (out / "images" / renamed[encoded]["savedAs"]).read_bytes() == flag_gif(encoded)
    assert (out / "images" / "127.0.0.1" / "a" / "b.gif").read_bytes() == flag_gif("a/b.gif")
    assert report["imagesNotSaved"] == []
    assert report["imagesSaved"] == 3
    assert "3 images, 2 under a safe local name (report.json: imagesRenamed)" in printed
    assert (out / "records.jsonl").read_text().count("\n") == 3
