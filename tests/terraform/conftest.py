"""The terraform tier's fixtures, shared by the files of tests/terraform/ (package scope: they end with the
package's last test, so that the moto server's patches and the deployed stack's environment do not reach
the tests that run after the tier; tests/terraform/plugin.py keeps the package on one xdist worker).

- ``workspace``: the terraform binary, a copy of the module tree and the environment terraform runs in
  (offline CLI config, plugin cache). Skips in replay.
- ``moto_server``: the moto server on 127.0.0.1 the tier applies to (``endpoint``, ``port``,
  ``client(service)``). Skips in replay.
- ``tier``: the applied examples/complete: ``output(name)``, ``state`` (``terraform show -json``),
  ``resources`` (pytest-terraform's TerraformTestApi); live, also ``live`` (the plugin's runner, the
  applied folder, the no-change second plan). Replaying, the same from the recording, ``live`` None.
- ``deployed``: the applied stack with its functions running in this process, as the applied state
  names them (local_runner.dispatch through moto's Lambda invoke), each with credentials minted for its
  applied role, judged by the moto server's ``enforcer`` (tests/terraform/iam_enforcement.py):
  ``execute(request)`` runs the applied state machine and returns its DescribeExecution; ``invocations``
  logs the Lambda calls.

The apply goes through pytest-terraform's fixture for the root ``complete`` (init, plan, apply, record,
replay); ``applying`` runs it on a thread of its own, so that the tests needing no apply run meanwhile
(started by test_terraform_tier.py's first test). Its last test destroys the stack: a file whose tests
need the live stack must sort before test_terraform_tier.py (the package's files run in name order).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import default_user_config
from pytest_terraform import terraform
from pytest_terraform.tf import TerraformFixture, TerraformRunner, TerraformTestApi

from local_runner.budgets import budgets_accounted
from local_runner.dispatch import InvocationLog, dispatcher, load_handlers, merged_environment
from tests.terraform import iam_enforcement, iam_tier, moto_shims, recording
from tests.terraform.deployed import applied_functions
from tests.terraform.iam_enforcement import Enforcer
from tests.terraform.plugin import live_module_dir, remove_live_copy
from tests.terraform.support import (
    copy_module_tree,
    error_summary,
    moto_provider_override,
    run_terraform,
    terraform_binary,
    terraform_env,
    unavailable,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
NAME = recording.NAME
# What terraform needs from workspace.env when pytest-terraform's runner starts it (the runner passes
# os.environ, plus TF_DATA_DIR and TF_IN_AUTOMATION).
RUNNER_ENV = ("TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR", "TF_INPUT", "CHECKPOINT_DISABLE")


def replaying(config: pytest.Config) -> bool:
    return bool(config.getoption("dest_tf_replay", False))


def skip_in_replay(request: pytest.FixtureRequest, what: str) -> None:
    if replaying(request.config):
        pytest.skip(f"replay (--tf-replay, or no terraform on PATH): {what} needs terraform")


# --- terraform, offline --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    binary: str
    root: Path
    env: dict[str, str]

    def terraform(self, *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run_terraform(self.binary, list(arguments), cwd or self.root, self.env)

    def must(self, *arguments: str, cwd: Path | None = None) -> str:
        result = self.terraform(*arguments, cwd=cwd)
        assert result.returncode == 0, f"terraform {' '.join(arguments)}:\n{result.stdout}{result.stderr}"
        return result.stdout


@pytest.fixture(scope="package")
def workspace(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Workspace:
    """The module tree copied, and initialised once: this first init fills the plugin cache that every
    later init (the apply's on its thread among them) only links from."""
    skip_in_replay(request, "terraform init/validate/plan/apply")
    binary = terraform_binary()
    if binary is None:
        unavailable("no terraform binary on PATH: the terraform tier (init/validate/plan/apply) did not run")
    base = tmp_path_factory.mktemp("terraform")
    space = Workspace(binary, copy_module_tree(base / "repo"), terraform_env(base))
    init = space.terraform("init", "-backend=false", "-input=false")
    if init.returncode != 0:
        unavailable(
            f"terraform init cannot install the providers: {error_summary(init.stdout + init.stderr)}"
        )
    return space


# --- a moto server on 127.0.0.1 ------------------------------------------------------------------------


@dataclass(frozen=True)
class Moto:
    endpoint: str
    port: int
    # Judges every call signed with a role's minted credentials (tests/terraform/iam_enforcement.py).
    enforcer: Enforcer

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="package")
def moto_server(request: pytest.FixtureRequest) -> Iterator[Moto]:
    skip_in_replay(request, "the moto server")
    from moto.server import ThreadedMotoServer

    enforcer = Enforcer(ACCOUNT, REGION)
    with pytest.MonkeyPatch.context() as patch:
        moto_shims.apply(patch)
        iam_enforcement.install(patch, enforcer)
        # Before anything is created: with use_docker off, moto keeps functions in the backend whose
        # invoke the tier replaces, and its state machines run (calling Lambda back at MOTO_PORT).
        patch.setitem(default_user_config, "lambda", {"use_docker": False})
        patch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield Moto(f"http://{host}:{port}", port, enforcer)
        finally:
            server.stop()


# --- examples/complete applied through pytest-terraform -----------------------------------------------


def complete_fixture() -> TerraformFixture:
    """pytest-terraform's fixture for the root ``complete`` (tests/terraform/complete_root.py)."""
    importlib.import_module("tests.terraform.complete_root")
    return terraform.get_fixture(recording.ROOT)


@dataclass(frozen=True)
class Live:
    """What only a real apply has: pytest-terraform's runner, the applied folder, the second plan."""

    runner: TerraformRunner
    workdir: Path
    # terraform plan -detailed-exitcode, run right after the apply, before any test reads the stack
    second_plan: subprocess.CompletedProcess[str]
    moto: Moto

    def state(self) -> dict[str, Any]:
        return self.runner.show()

    def destroy(self) -> None:
        self.runner.destroy()

    def resources_left(self) -> bool:
        """Read from the state file: no terraform run (show would load the provider)."""
        state = Path(self.runner.state_path)
        return state.is_file() and bool(json.loads(state.read_text()).get("resources"))


@dataclass(frozen=True)
class Tier:
    """The applied examples/complete, from the apply (live) or from the recording (replay)."""

    resources: TerraformTestApi
    state: dict[str, Any]
    # the module hash the checked-in recording carried before this run (None: no recording)
    recorded_hash: str | None
    live: Live | None

    def output(self, name: str) -> Any:
        return self.resources.outputs[name]["value"]

    def require_live(self) -> Live:
        if self.live is None:
            pytest.skip("replay: needs the stack applied on moto (terraform apply), not its recording")
        return self.live


def apply_and_record(
    plugin_fixture: TerraformFixture,
    request: pytest.FixtureRequest,
    tmpdir_factory: Any,
    worker_id: str,
    workspace: Workspace,
    moto: Moto,
    example: Path,
    checked_in: str | None,
) -> Tier:
    """pytest-terraform's init, plan and apply; a second plan; the recording refreshed when stale."""
    applied = plugin_fixture(request, tmpdir_factory, worker_id)
    runner = applied.terraform
    second_plan = run_terraform(
        workspace.binary,
        ["plan", "-input=false", "-detailed-exitcode", f"-state={runner.state_path}"],
        example,
        {**workspace.env, "TF_DATA_DIR": str(runner.work_dir)},
    )
    state = runner.show()
    # pytest-terraform wrote its recording next to the root it applied.
    recorded = recording.stamped(recording.read(example / "tf_resources.json"), state)
    if checked_in != recording.module_hash() or recording.refresh_requested():
        recording.write(recorded)
    return Tier(applied, state, checked_in, Live(runner, example, second_plan, moto))


@pytest.fixture(scope="package")
def applying(
    workspace: Workspace,
    moto_server: Moto,
    request: pytest.FixtureRequest,
    tmpdir_factory: Any,
    worker_id: str,
) -> Iterator[Future[Tier]]:
    """examples/complete applied on a thread of its own, in a copy of the module of its own (every root
    writes <module>/build/lambda_src.zip: the other roots' plans would rewrite the zip this apply
    uploads). The apply mostly waits (the provider polls a new lifecycle configuration for about a
    minute and each new function for 5 s), so the tests that need no apply run meanwhile."""
    remove_live_copy()
    example = copy_module_tree(live_module_dir().parent) / "examples" / recording.ROOT
    (example / "moto_override.tf").write_text(moto_provider_override(moto_server.endpoint, REGION))
    (example / "tier_override.tf").write_text(recording.EXAMPLE_OVERRIDE)
    checked_in = recording.recorded_hash(recording.read())
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(1, "terraform-apply") as pool:
        for name in RUNNER_ENV:
            if name in workspace.env:  # registry mode writes no CLI config
                patch.setenv(name, workspace.env[name])
        future = pool.submit(
            apply_and_record,
            complete_fixture(),
            request,
            tmpdir_factory,
            worker_id,
            workspace,
            moto_server,
            example,
            checked_in,
        )
        try:
            yield future
        finally:
            wait([future])
            if future.exception() is None:
                live = future.result().live
                if live is not None and live.resources_left():
                    live.destroy()
            remove_live_copy()


@pytest.fixture(scope="package")
def tier(request: pytest.FixtureRequest, tmpdir_factory: Any, worker_id: str) -> Tier:
    if replaying(request.config):
        resources = complete_fixture()(request, tmpdir_factory, worker_id)
        data = recording.read() or {}
        return Tier(resources, data[recording.KEY]["state"], recording.recorded_hash(data), None)
    applying: Future[Tier] = request.getfixturevalue("applying")
    return applying.result()


# --- the applied state machine, executed --------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    """The applied stack, its functions running in this process: start executions and look at the results."""

    tier: Tier
    moto: Moto
    invocations: InvocationLog

    def execute(self, request: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        sfn = self.moto.client("stepfunctions")
        # moto's server needs an explicit name (the API's StartExecution integration sends none: AWS
        # generates one there).
        name = f"tier-{time.monotonic_ns()}"
        arn = sfn.start_execution(
            stateMachineArn=self.tier.output("state_machine_arn"), name=name, input=json.dumps(request)
        )["executionArn"]
        deadline = time.monotonic() + timeout
        while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{name} still running after {timeout} s"
            time.sleep(0.2)
        return execution


@pytest.fixture(scope="package")
def deployed(tier: Tier) -> Iterator[Deployed]:
    live = tier.require_live()
    functions = applied_functions(tier.state, NAME)
    handlers = load_handlers(live.workdir / functions.zip_path, functions.specs)
    # Each invocation signs with credentials of its function's applied role, and is judged on its policies.
    roles = iam_tier.function_roles(tier.state, NAME)
    handlers = iam_tier.run_as_roles(handlers, roles, live.moto.enforcer)
    log = InvocationLog()
    runtime = {
        **merged_environment(functions.specs),
        # The handlers' boto3 clients talk to the moto server; moto's state machines call Lambda back
        # at localhost:MOTO_PORT.
        "AWS_ENDPOINT_URL": live.moto.endpoint,
        "MOTO_PORT": str(live.moto.port),
        # A client created outside an invocation's role signs with this key, which the server refuses.
        "AWS_ACCESS_KEY_ID": iam_enforcement.NO_ROLE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": "none",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    # Lambda's budgets (CPU share of memory_size, memory, /tmp) count every thread a handler starts.
    with pytest.MonkeyPatch.context() as patch, budgets_accounted():
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        for name, value in runtime.items():
            patch.setenv(name, value)
        specs = {spec.name: spec for spec in functions.specs}
        iam_enforcement.install_client_credentials(patch)
        patch.setattr(LambdaSimpleBackend, "invoke", dispatcher(handlers, specs, log, NAME))
        yield Deployed(tier, live.moto, log)
