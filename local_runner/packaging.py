"""Build the Lambda zip from ``lambda_src/`` the way Terraform's ``archive_file`` does."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from local_runner.template import REPO_ROOT

LAMBDA_SOURCE = REPO_ROOT / "lambda_src"
# Must equal local.archive_excludes in modules/compute/main.tf (tests/test_local_runner.py checks it).
ARCHIVE_EXCLUDES = ("**/__pycache__/**", "**/*.pyc")


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
    tokens = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(tokens.get(part, re.escape(part)) for part in parts) + r"\Z")


def included_files(source: Path = LAMBDA_SOURCE, excludes: tuple[str, ...] = ARCHIVE_EXCLUDES) -> list[str]:
    """Relative POSIX paths of the files the zip holds, sorted."""
    patterns = [_glob_to_regex(pattern) for pattern in excludes]
    names = (path.relative_to(source).as_posix() for path in source.rglob("*") if path.is_file())
    return sorted(name for name in names if not any(pattern.match(name) for pattern in patterns))


def build_lambda_zip(output: Path, source: Path = LAMBDA_SOURCE) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in included_files(source):
            archive.write(source / name, name)
    return output
