"""The local runner's plumbing: the zip is built like archive_file, handlers come from that zip, and the
emulated functions get the environment the Terraform module sets."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from image_downloader import settings
from image_downloader.batch import BatchSettings, parse_request
from image_downloader.content import DEFAULT_ALLOWED_FORMATS
from local_runner.big_input import big_request
from local_runner.emulator import (
    TASK_TIMEOUT_MARGIN_SECONDS,
    DeploymentConfig,
    FunctionSpec,
    load_handlers,
    merged_environment,
)
from local_runner.packaging import ARCHIVE_EXCLUDES, LAMBDA_SOURCE, build_lambda_zip, included_files
from local_runner.sample_images import flag_gif, sample_set
from local_runner.sample_server import SampleServer
from local_runner.template import REPO_ROOT

HANDLER_MODULES = {
    "image_downloader/batch.py",
    "image_downloader/download.py",
    "image_downloader/consolidate.py",
}


def test_zip_holds_the_handlers_and_no_caches(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(LAMBDA_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "image_downloader" / "__pycache__").mkdir()
    (source / "image_downloader" / "__pycache__" / "batch.cpython-311.pyc").write_bytes(b"\0")
    (source / "image_downloader" / "stale.pyc").write_bytes(b"\0")

    names = set(zipfile.ZipFile(build_lambda_zip(tmp_path / "lambda.zip", source)).namelist())

    assert names >= HANDLER_MODULES
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert names == set(included_files(source))


def test_handlers_are_imported_from_the_zip_and_leave_loaded_modules_alone(tmp_path: Path) -> None:
    import image_downloader.batch as already_loaded

    config = DeploymentConfig()
    handlers = load_handlers(build_lambda_zip(tmp_path / "lambda.zip"), config.functions())

    assert set(handlers) == {"batch", "download", "consolidate"}
    assert handlers["batch"].__globals__["__file__"].startswith(str(tmp_path / "lambda.zip"))
    assert sys.modules["image_downloader.batch"] is already_loaded


def test_a_packaging_mistake_fails_the_local_run(tmp_path: Path) -> None:
    broken = tmp_path / "lambda.zip"
    with (
        zipfile.ZipFile(build_lambda_zip(tmp_path / "good.zip")) as good,
        zipfile.ZipFile(broken, "w") as archive,
    ):
        for name in good.namelist():
            if name != "image_downloader/consolidate.py":
                archive.writestr(name, good.read(name))

    with pytest.raises(ModuleNotFoundError, match="consolidate"):
        load_handlers(broken, DeploymentConfig().functions())


def test_each_emulated_function_gets_exactly_its_contracted_environment() -> None:
    for spec in DeploymentConfig().functions():
        assert set(spec.environment) == set(settings.ENV_BY_FUNCTION[spec.name]), spec.name


def test_conflicting_environment_values_are_refused() -> None:
    specs = (
        FunctionSpec("one", "m.h", 1, {"BUCKET_NAME": "a"}),
        FunctionSpec("two", "m.h", 1, {"BUCKET_NAME": "b"}),
    )
    with pytest.raises(RuntimeError, match="BUCKET_NAME differs"):
        merged_environment(specs)


def test_the_private_address_guard_stays_on_unless_the_run_turns_it_off() -> None:
    def download_env(config: DeploymentConfig) -> dict:
        return next(spec.environment for spec in config.functions() if spec.name == "download")

    assert download_env(DeploymentConfig())["ALLOW_PRIVATE_ADDRESSES"] == "false"
    assert download_env(DeploymentConfig(allow_private_addresses=True))["ALLOW_PRIVATE_ADDRESSES"] == "true"


def _terraform_default(text: str, name: str, within: str | None = None) -> str:
    if within:
        text = text[text.index(f"{within} = optional(object({{") :]
    match = re.search(rf"\b{name}\s*=\s*optional\([^,]+,\s*([^)]+)\)", text)
    assert match, f"no optional() default for {name} in variables.tf"
    return match.group(1).strip().strip('"')


def test_local_deployment_uses_the_terraform_modules_defaults() -> None:
    variables = (REPO_ROOT / "variables.tf").read_text()
    config = DeploymentConfig()
    plain = (
        "image_key_prefix",
        "report_key_prefix",
        "max_image_bytes",
        "connect_timeout_seconds",
        "read_timeout_seconds",
        "time_budget_margin_seconds",
        "image_time_limit_seconds",
        "max_lambda_concur",
        "max_paths_per_execution",
        "default_batch_size",
        "max_listed_failures",
        "map_max_concurrency",
        "execution_timeout_seconds",
    )
    for name in plain:
        assert str(getattr(config, name)).removesuffix(".0") == _terraform_default(variables, name), name
    assert _terraform_default(variables, "allow_private_addresses") == "false"
    content_types = re.search(
        r"allowed_content_types\s*=\s*optional\(list\(string\),\s*\[([^\]]*)\]", variables
    )
    assert content_types, "no optional() default for allowed_content_types in variables.tf"
    assert tuple(re.findall(r'"([^"]+)"', content_types.group(1))) == config.allowed_content_types
    assert set(config.allowed_content_types) == DEFAULT_ALLOWED_FORMATS
    for function in ("batch", "download", "consolidate"):
        expected = _terraform_default(variables, "timeout", within=function)
        assert str(getattr(config, f"{function}_timeout_seconds")) == expected, function
    state_machine = (REPO_ROOT / "modules/state_machine/main.tf").read_text()
    assert f"task_timeout_margin_seconds = {TASK_TIMEOUT_MARGIN_SECONDS}" in state_machine


def test_zip_excludes_match_the_terraform_archive_excludes() -> None:
    compute = (REPO_ROOT / "modules/compute/main.tf").read_text()
    match = re.search(r"archive_excludes\s*=\s*\[([^\]]*)\]", compute)
    assert match, "local.archive_excludes not found in modules/compute/main.tf"
    assert tuple(re.findall(r'"([^"]+)"', match.group(1))) == ARCHIVE_EXCLUDES


def test_lambda_package_imports_only_what_the_lambda_runtime_ships() -> None:
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "urllib3", "image_downloader"}
    imported: dict[str, set[str]] = {}
    for path in LAMBDA_SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                imported.setdefault(name.split(".")[0], set()).add(path.name)
    assert {"boto3", "urllib3", "image_downloader"} <= set(imported)
    assert {name: files for name, files in imported.items() if name not in allowed} == {}


def test_the_big_input_is_over_the_execution_input_limit_and_a_valid_request() -> None:
    request = big_request(20_000, 20)

    assert len(json.dumps(request).encode()) > 1_000_000
    assert {len(path) for path in request["resourcePaths"]} == {50}
    parsed = parse_request(request, BatchSettings())
    assert (len(parsed.resource_paths), parsed.duplicates_dropped) == (20_000, 0)


def test_the_sample_server_answers_generated_paths_and_still_404s_the_rest() -> None:
    with SampleServer(sample_set()) as server:
        generated = urllib.request.urlopen(server.base_url + "generated/0000001/xx.gif", timeout=5).read()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.base_url + "zz/zz.gif", timeout=5)

    assert generated == flag_gif("generated/0000001/xx.gif")
    assert missing.value.code == 404
