"""Print a release's notes from CHANGELOG.md, refusing a tag that CHANGELOG.md and pyproject.toml do not
describe (the release workflow's first step; standard library only).

    python3 -m tools.release_notes v0.1.0 > notes.md
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TAG = re.compile(r"v(\d+\.\d+\.\d+)")


class ReleaseError(ValueError):
    pass


def release_notes(tag: str, changelog: str, pyproject: str) -> str:
    """The body of the tag's ``## [x.y.z] - YYYY-MM-DD`` section of the changelog."""
    match = TAG.fullmatch(tag)
    if not match:
        raise ReleaseError(f"tag {tag!r} is not vMAJOR.MINOR.PATCH (e.g. v0.1.0)")
    version = match.group(1)
    declared = tomllib.loads(pyproject)["project"]["version"]
    if declared != version:
        raise ReleaseError(
            f"pyproject.toml declares version {declared}, not {version}: update it before tagging"
        )
    heading = re.search(rf"^## \[{re.escape(version)}\](.*)$", changelog, re.MULTILINE)
    if not heading:
        raise ReleaseError(f"CHANGELOG.md has no ## [{version}] section: move the Unreleased items into one")
    if not re.fullmatch(r" - \d{4}-\d{2}-\d{2}", heading.group(1)):
        raise ReleaseError(f"CHANGELOG.md's [{version}] heading needs its date: ## [{version}] - YYYY-MM-DD")
    body = changelog[heading.end() :].split("\n## [", 1)[0].strip()
    if not body:
        raise ReleaseError(f"CHANGELOG.md's [{version}] section is empty")
    return body + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag", help="the release tag, e.g. v0.1.0")
    parser.add_argument("--changelog", type=Path, default=REPO_ROOT / "CHANGELOG.md")
    parser.add_argument("--pyproject", type=Path, default=REPO_ROOT / "pyproject.toml")
    args = parser.parse_args(argv)
    try:
        notes = release_notes(args.tag, args.changelog.read_text(), args.pyproject.read_text())
    except ReleaseError as error:
        print(f"release_notes: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
