"""``python -m image_downloader.download``: the engine on the command line, run as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "lambda_src")}
    return subprocess.run(
        [sys.executable, "-m", "image_downloader.download", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def paths_file(tmp_path: Path, paths: list[str]) -> Path:
    listing = tmp_path / "paths.txt"
    listing.write_text("# flags\n" + "\n".join(paths) + "\n\n")
    return listing


def test_downloads_every_image_to_a_folder(image_server: ImageServer, tmp_path: Path) -> None:
    paths = ["cn/cn.gif", "in/in.gif", "a/x.gif", "b/x.gif"]
    for path in paths:
        image_server.add_image(path)
    out = tmp_path / "out"

    done = run_cli(
        "--base-url",
        image_server.base_url,
        "--paths-file",
        str(paths_file(tmp_path, paths)),
        "-c",
        "3",
        "--out",
        str(out),
        "--allow-private-addresses",
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"4 images downloaded to {out} in ")
    host = image_server.base_url.removeprefix("http://").rstrip("/")
    for path in paths:
        assert (out / "http" / host / path).read_bytes() == flag_gif(path)


def test_discards_without_out_and_fails_when_an_image_failed(
    image_server: ImageServer, tmp_path: Path
) -> None:
    image_server.add_image("cn/cn.gif")

    done = run_cli(
        "--base-url",
        image_server.base_url,
        "--paths-file",
        str(paths_file(tmp_path, ["cn/cn.gif", "zz/zz.gif"])),
        "--allow-private-addresses",
    )

    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("1 images downloaded (discarded) in ")
    assert lines[1:] == ["1 failed:", f"  [http_status] Could not find: {image_server.url('zz/zz.gif')}"]


def test_refuses_private_addresses_unless_told_otherwise(image_server: ImageServer, tmp_path: Path) -> None:
    image_server.add_image("cn/cn.gif")

    done = run_cli(
        "--base-url", image_server.base_url, "--paths-file", str(paths_file(tmp_path, ["cn/cn.gif"]))
    )

    assert done.returncode == 1
    assert "[blocked]" in done.stdout
    assert image_server.hits("cn/cn.gif") == 0
