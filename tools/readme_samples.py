"""The README's sample outputs of ``make run``, taken from real local runs (``make docs`` writes them;
``--check`` and tests/test_readme_samples.py fail when the README no longer shows what a run prints).

Each sample is a run in a folder of its own (so its paths read ``downloads/…`` as a user's would, and
its deployment state starts empty), with ``--quiet`` (the progress line depends on timing). What changes
from run to run (the execution's name, the sample server's port, times, GB-seconds, request counts and
payload sizes) is compared as a placeholder.

    python -m tools.readme_samples --write | --check
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from local_runner.__main__ import main as run_locally
from local_runner.state import STATE_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
# name -> the arguments of python -m local_runner (make run's variables in the README's text)
SAMPLES = {
    "SAMPLE_RUN": ["--quiet"],
    "SAMPLE_FAIL": ["--input", str(REPO_ROOT / "examples" / "inputs" / "fail.json"), "--samples", "--quiet"],
}
VOLATILE = (
    (re.compile(r"local-\d{8}-\d{6}-[0-9a-f]{6}"), "local-<execution>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r" in \d+\.\ds\b"), " in <seconds>s"),
    (re.compile(r"\d+\.\d+ GB-s"), "<n> GB-s"),
    (re.compile(r"Requests   S3 \d+, DynamoDB writes \d+"), "Requests   S3 <n>, DynamoDB writes <n>"),
    (re.compile(r"largest state payload \d+\.\d KiB"), "largest state payload <n> KiB"),
    # The budget lines' measured figures change from run to run; their limits (the module's defaults) do not.
    (
        re.compile(r"worst margin \d+% \(\d+\.\d of (\d+) s, \d+ of (\d+) MB, /tmp \d+ of (\d+) MB\)"),
        r"worst margin <n>% (<n> of \1 s, <n> of \2 MB, /tmp <n> of \3 MB)",
    ),
)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN_{name} -->", f"<!-- END_{name} -->"


@contextlib.contextmanager
def _in_empty_folder() -> Iterator[None]:
    previous, state = Path.cwd(), os.environ.pop(STATE_ENV, None)
    with tempfile.TemporaryDirectory(prefix="readme-sample-") as folder:
        os.chdir(folder)
        try:
            yield
        finally:
            os.chdir(previous)
            if state is not None:
                os.environ[STATE_ENV] = state


def sample_output(arguments: list[str]) -> str:
    """What ``python -m local_runner <arguments>`` prints, stderr then stdout, as the terminal shows it."""
    err, out = io.StringIO(), io.StringIO()
    with _in_empty_folder(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        run_locally(arguments)
    return err.getvalue() + out.getvalue()


def section(output: str) -> str:
    lines = [line.rstrip() for line in output.strip("\n").splitlines()]
    return "```text\n" + "\n".join(lines) + "\n```\n"


def normalized(text: str) -> str:
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def shown(readme_text: str, name: str) -> str:
    begin, end = markers(name)
    if readme_text.count(begin) != 1 or readme_text.count(end) != 1:
        raise ValueError(f"README.md needs one {begin} line followed by one {end} line")
    return readme_text.split(begin, 1)[1].split(end, 1)[0].strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    from tools.tfdocs import updated_readme  # python-hcl2: a dev tool, like make docs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the samples in the README")
    mode.add_argument("--check", action="store_true", help="exit 1 if a sample is out of date")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    wanted = text
    stale = []
    for name, arguments in SAMPLES.items():
        fresh = section(sample_output(arguments))
        if normalized(shown(text, name)) != normalized(fresh):
            stale.append(name)
            wanted = updated_readme(wanted, fresh, *markers(name))
    if args.check:
        for name in stale:
            print(f"readme_samples: {name} in README.md is out of date; run make docs", file=sys.stderr)
        return 1 if stale else 0
    if wanted != text:
        README.write_text(wanted, encoding="utf-8")
        print(f"readme_samples: updated {', '.join(stale)} in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
