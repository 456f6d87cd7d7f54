"""Every .tf file parses with python-hcl2 and is formatted as `terraform fmt` would write it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lark.exceptions import LarkError

from tools.tfdocs import REPO_ROOT, module_dirs, parse_file, terraform_files

TF_FILES = terraform_files(REPO_ROOT)
TERRAFORM = shutil.which("terraform")


def relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def test_the_repository_has_terraform_files() -> None:
    assert len(TF_FILES) >= 20, [relative(path) for path in TF_FILES]


@pytest.mark.parametrize("path", TF_FILES, ids=relative)
def test_file_parses(path: Path) -> None:
    document = parse_file(path)
    assert document, f"{relative(path)} holds no block"


def test_parse_error_names_the_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tf"
    broken.write_text('resource "aws_s3_bucket" "x" {\n  bucket = \n}\n')
    with pytest.raises(LarkError):
        parse_file(broken)


def terraform_fmt(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # An empty CLI configuration: fmt needs none, and a missing ~/.terraformrc only adds a warning.
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        [TERRAFORM, "fmt", *arguments], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary on PATH: `terraform fmt -check` not run")
@pytest.mark.parametrize("directory", module_dirs(REPO_ROOT), ids=lambda path: relative(path) or "root")
def test_terraform_fmt_finds_nothing_to_change(directory: Path) -> None:
    completed = terraform_fmt("-check", "-diff", "-list=true", ".", cwd=directory)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary on PATH: `terraform fmt -check` not run")
def test_terraform_fmt_check_fails_on_misaligned_arguments(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('variable "x" {\n  type = string\n  description = "X."\n}\n')
    completed = terraform_fmt("-check", ".", cwd=tmp_path)
    assert completed.returncode != 0
    assert "main.tf" in completed.stdout
