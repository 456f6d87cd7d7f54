"""What the tier reads back from an applied Terraform state, and how it runs the deployed functions.

A moto server has no Lambda runtime here (no Docker), so the tier runs each applied function the way the
local runner does: the handler named by the function's ``handler`` attribute, imported from the zip its
``filename`` attribute names, with its ``environment`` — all three read from Terraform's state, not from
the local runner's own configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_runner.emulator import FunctionSpec


def state_resources(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every resource and data source of ``terraform show -json``, child modules included."""
    modules = [state.get("values", {}).get("root_module", {})]
    while modules:
        module = modules.pop()
        yield from module.get("resources", [])
        modules.extend(module.get("child_modules", []))


def resources_of_type(state: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [resource for resource in state_resources(state) if resource["type"] == resource_type]


@dataclass(frozen=True)
class AppliedFunctions:
    """The applied Lambda functions: their specs keyed by role (batch, download, ...) and their zip."""

    name_prefix: str
    specs: tuple[FunctionSpec, ...]
    zip_path: Path


def applied_functions(state: dict[str, Any], name_prefix: str) -> AppliedFunctions:
    functions = resources_of_type(state, "aws_lambda_function")
    specs = []
    for function in functions:
        values = function["values"]
        environment = (values.get("environment") or [{}])[0].get("variables") or {}
        specs.append(
            FunctionSpec(
                name=values["function_name"].removeprefix(f"{name_prefix}-"),
                handler=values["handler"],
                timeout_seconds=int(values["timeout"]),
                environment=environment,
                memory_mb=int(values["memory_size"]),
                ephemeral_mb=int(values["ephemeral_storage"][0]["size"]),
                reserved_concurrency=_reserved(values.get("reserved_concurrent_executions")),
            )
        )
    (zip_path,) = {Path(function["values"]["filename"]) for function in functions}
    return AppliedFunctions(name_prefix, tuple(specs), zip_path)


def _reserved(value: object) -> int | None:
    """The applied reserved_concurrent_executions: -1 (or absent) reserves none."""
    return int(value) if isinstance(value, int | float) and value >= 0 else None
