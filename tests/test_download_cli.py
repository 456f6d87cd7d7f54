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
    for path in paths:  # as make run names them: <host>/<path>, without the scheme and the port
        assert (out / "127.0.0.1" / path).read_bytes() == flag_gif(path)


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
    assert lines[1:] == ["1 failed:", f"  404 Not Found  {image_server.url('zz/zz.gif')}"]


def test_refuses_private_addresses_unless_told_otherwise(image_server: ImageServer, tmp_path: Path) -> None:
    image_server.add_image("cn/cn.gif")

    done = run_cli(
        "--base-url", image_server.base_url, "--paths-file", str(paths_file(tmp_path, ["cn/cn.gif"]))
    )

    assert done.returncode == 1
    assert "  blocked: loopback address 127.0.0.1  " in done.stdout
    assert image_server.hits("cn/cn.gif") == 0


def test_out_never_overwrites_one_url_with_another_and_spellings_of_one_url_are_one_file(
    image_server: ImageServer, tmp_path: Path
) -> None:
    image_server.add_image("ok.gif", flag_gif("query"))
    image_server.add_image("ok.gif%3Fa", flag_gif("escaped"))
    image_server.add_image("ok/b.gif", flag_gif("b"))
    paths = ["ok.gif?a", "ok.gif%3Fa", "ok/./b.gif", "ok/b.gif", "ok.gif"]
    out = tmp_path / "out"
    args = ["--base-url", image_server.base_url, "--paths-file", str(paths_file(tmp_path, paths))]

    done = run_cli(*args, "--out", str(out), "--allow-private-addresses")

    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith(f"4 images downloaded to {out} in ")
    assert "1 duplicate paths dropped" in done.stdout.splitlines()[0]
    files = sorted(path for path in out.rglob("*") if path.is_file())
    assert len(files) == 4
    assert sorted(path.read_bytes() for path in files) == sorted(
        [flag_gif("query"), flag_gif("escaped"), flag_gif("b"), flag_gif("query")]
    )

    assert {path.relative_to(out).parts[0] for path in files} == {"127.0.0.1"}  # make run's <host>/<path>
    assert (out / "127.0.0.1" / "ok" / "b.gif").read_bytes() == flag_gif("b")

    again = run_cli(*args, "--out", str(out), "--allow-private-addresses")

    assert again.returncode == 0, again.stdout  # the same content already there counts as downloaded
    assert again.stdout.startswith(f"4 images downloaded to {out} in ")
    (out / "127.0.0.1" / "ok" / "b.gif").write_bytes(b"another image")

    changed = run_cli(*args, "--out", str(out), "--allow-private-addresses")

    assert changed.returncode == 1
    assert changed.stdout.splitlines()[1] == "1 failed:"
    assert "b.gif exists already with other content: not overwritten" in changed.stdout
    assert (out / "127.0.0.1" / "ok" / "b.gif").read_bytes() == b"another image"
    assert len([path for path in out.rglob("*") if path.is_file()]) == 4


def test_input_errors_exit_2_with_the_argument_named(image_server: ImageServer, tmp_path: Path) -> None:
    listing = paths_file(tmp_path, ["ok.gif", "../x.gif"])
    cases = {
        ("--base-url", image_server.base_url, "--paths-file", str(tmp_path / "missing.txt")): (
            "error: --paths-file: cannot read"
        ),
        ("--base-url", "http://[::1/", "--paths-file", str(listing)): "error: --base-url: is not a valid URL",
        ("--base-url", image_server.base_url, "--paths-file", str(listing)): (
            "error: --paths-file line 3: must not contain '..'"
        ),
        ("--base-url", image_server.base_url, "--paths-file", str(listing), "-c", "0"): "must be >= 1",
    }
    for args, message in cases.items():
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr
        assert "Traceback" not in done.stderr
    assert image_server.hits("ok.gif") == 0


def test_help_lists_the_exit_codes() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    assert "exit codes:" in done.stdout
    for line in ("0  every image downloaded", "1  some images failed", "2  usage or input error"):
        assert line in done.stdout


def test_a_closed_stdout_ends_quietly(image_server: ImageServer, tmp_path: Path) -> None:
    image_server.add_image("cn/cn.gif")
    args = [
        "--base-url",
        image_server.base_url,
        "--paths-file",
        str(paths_file(tmp_path, ["cn/cn.gif", "zz.gif"])),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "lambda_src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "image_downloader.download", *args, "--allow-private-addresses"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `| head -0`: the reader is gone before anything is printed
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert stderr == ""
