"""The offline terraform setup: the hashicorp/archive stand-in and the CLI config that installs providers
from local mirrors only. The terraform tier (tests/terraform) runs them with terraform itself."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from local_runner.packaging import ARCHIVE_EXCLUDES, LAMBDA_SOURCE, build_lambda_zip
from tests.terraform.support import run_terraform
from tools import offline_terraform
from tools.archive_provider import ArchiveFile, ArchiveProvider, config_problems
from tools.offline_terraform import NoAwsMirror, cli_config_text, install_archive_provider, prepare


class _Context:
    def __init__(self) -> None:
        from tf.utils import Diagnostics

        self.diagnostics = Diagnostics()
        self.type_name = "archive_file"


def read_archive(**config: object) -> tuple[dict, _Context]:
    context = _Context()
    full = {"type": "zip", "source_dir": None, "source_file": None, "excludes": None}
    full.update({"output_file_mode": None, **config})
    return ArchiveFile(ArchiveProvider()).read(context, full), context  # type: ignore[arg-type]


def test_stand_in_zips_the_package_exactly_as_the_local_runner(tmp_path: Path) -> None:
    state, _ = read_archive(
        source_dir=str(LAMBDA_SOURCE),
        excludes=list(ARCHIVE_EXCLUDES),
        output_path=str(tmp_path / "terraform.zip"),
        output_file_mode="0644",
    )
    local = build_lambda_zip(tmp_path / "local.zip")
    with zipfile.ZipFile(tmp_path / "terraform.zip") as made, zipfile.ZipFile(local) as expected:
        assert sorted(made.namelist()) == sorted(expected.namelist())
        for name in expected.namelist():
            assert made.read(name) == expected.read(name), name
    data = (tmp_path / "terraform.zip").read_bytes()
    assert state["output_base64sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert state["output_size"] == len(data)


def test_stand_in_leaves_out_the_excluded_files_and_sets_the_mode(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "handler.py").write_text("x = 1\n")
    (source / "pkg" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0")
    (source / "pkg" / "stale.pyc").write_bytes(b"\0")
    read_archive(
        source_dir=str(source),
        excludes=["**/__pycache__/**", "**/*.pyc"],
        output_path=str(tmp_path / "out.zip"),
        output_file_mode="0640",
    )
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert archive.namelist() == ["pkg/handler.py"]
        assert stat.S_IMODE(archive.getinfo("pkg/handler.py").external_attr >> 16) == 0o640


def test_stand_in_is_reproducible_whatever_the_file_times(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.py").write_text("a = 1\n")
    first, _ = read_archive(source_dir=str(source), output_path=str(tmp_path / "1.zip"))
    os.utime(source / "a.py", (1_000_000_000, 1_000_000_000))
    second, _ = read_archive(source_dir=str(source), output_path=str(tmp_path / "2.zip"))
    assert first["output_base64sha256"] == second["output_base64sha256"]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"type": "tar.gz", "source_dir": "x"}, 'type: only "zip" is supported'),
        ({"type": "zip"}, "exactly one of source_dir and source_file"),
        ({"type": "zip", "source_dir": "x", "source_file": "y"}, "exactly one of source_dir and source_file"),
        ({"type": "zip", "source_dir": "x", "output_file_mode": "rw-r--r--"}, "not an octal file mode"),
    ],
)
def test_stand_in_refuses_what_it_does_not_implement(config: dict, problem: str) -> None:
    assert any(problem in message for message in config_problems(config))
    state, context = read_archive(output_path="/nonexistent/out.zip", **config)
    assert state is None
    assert context.diagnostics.has_errors()


def fake_aws_mirror(root: Path) -> Path:
    provider = root / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64"
    provider.mkdir(parents=True)
    (provider / "terraform-provider-aws_v5.100.0_x5").write_bytes(b"")
    return root


def test_prepare_writes_a_config_of_local_mirrors_only(tmp_path: Path) -> None:
    aws = fake_aws_mirror(tmp_path / "aws-mirror")
    offline = prepare(tmp_path / "out", aws_mirror=aws)
    config = offline.cli_config.read_text()
    assert config == cli_config_text(aws, tmp_path / "out" / "mirror")
    assert "direct" not in config
    assert f'path    = "{aws}"' in config
    (executable,) = (offline.archive_mirror / "registry.terraform.io" / "hashicorp" / "archive").glob("*/*/*")
    assert executable.name.startswith("terraform-provider-archive_v")
    assert os.access(executable, os.X_OK)
    assert "-m tools.archive_provider" in executable.read_text()


def test_the_mirror_setting_wins_over_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(offline_terraform.MIRROR_ENV, str(tmp_path / "empty"))
    with pytest.raises(NoAwsMirror, match=f"set {offline_terraform.MIRROR_ENV}"):
        prepare(tmp_path / "out")
    monkeypatch.setenv(offline_terraform.MIRROR_ENV, str(fake_aws_mirror(tmp_path / "set")))
    assert prepare(tmp_path / "out").aws_mirror == tmp_path / "set"


def test_discovery_takes_the_first_candidate_holding_aws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(offline_terraform.MIRROR_ENV, raising=False)
    (tmp_path / "without").mkdir()
    with_aws = fake_aws_mirror(tmp_path / "with")
    assert offline_terraform.find_aws_mirror((tmp_path / "without", with_aws)) == with_aws
    assert offline_terraform.find_aws_mirror((tmp_path / "without",)) is None


def test_the_stand_in_executable_runs_the_provider_with_this_python(tmp_path: Path) -> None:
    executable = install_archive_provider(tmp_path, python="/some/python")
    assert executable.parent.name == offline_terraform.terraform_platform()
    assert "exec /some/python -m tools.archive_provider" in executable.read_text()


def _init(folder: Path, cli_config: Path, *options: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config), "CHECKPOINT_DISABLE": "1"}
    binary = shutil.which("terraform")
    assert binary is not None
    return run_terraform(binary, ["init", "-input=false", *options], folder, environment, timeout=120)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on PATH")
def test_an_offline_lock_file_refuses_another_archive_package_until_its_block_is_deleted(
    tmp_path: Path,
) -> None:
    """The README's advice (Deploying with Terraform): an offline init records the stand-in's hash as
    hashicorp/archive 2.7.1, so an init that finds another 2.7.1 package (the registry's) fails, with
    -upgrade too, until the lock file's archive block is deleted."""
    offline = prepare(tmp_path / "offline", aws_mirror=fake_aws_mirror(tmp_path / "aws-mirror"))
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        '    archive = { source = "hashicorp/archive", version = ">= 2.5" }\n'
        "  }\n}\n"
    )
    assert _init(root, offline.cli_config).returncode == 0
    lock = root / ".terraform.lock.hcl"
    assert 'provider "registry.terraform.io/hashicorp/archive"' in lock.read_text()
    # Another package of the same version, as the registry would serve it (other bytes, other hash).
    other = tmp_path / "other"
    executable = install_archive_provider(other)
    executable.write_text(executable.read_text() + "# another build\n")
    other_config = tmp_path / "other.tfrc"
    other_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{other}"\n  }}\n}}\n'
    )
    shutil.rmtree(root / ".terraform")

    refused = _init(root, other_config)
    assert refused.returncode != 0
    assert "checksums previously recorded in the dependency lock file" in " ".join(refused.stderr.split())
    assert _init(root, other_config, "-upgrade").returncode != 0

    lock.unlink()
    assert _init(root, other_config).returncode == 0
