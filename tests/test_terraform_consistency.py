"""Consistency of the Terraform modules, read with python-hcl2: what `terraform validate` would catch
without a provider (references, module interfaces, the ASL template's variables) and the conventions
the modules promise (types, descriptions, versions, no provider blocks in modules)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tools.tfdocs import (
    MODULE_META_ARGUMENTS,
    REPO_ROOT,
    Module,
    closing_brace,
    expression_text,
    interpolations,
    load_module,
    module_dirs,
)

MODULE_DIRS = module_dirs(REPO_ROOT)
REUSABLE_DIRS = [REPO_ROOT, *sorted((REPO_ROOT / "modules").iterdir())]
ASL_TEMPLATE = REPO_ROOT / "sfn" / "image_downloader.asl.json"

VAR_REF = re.compile(r"(?<![\w.])var\.([A-Za-z_][\w-]*)")
LOCAL_REF = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w-]*)")
MODULE_REF = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
RESOURCE_REF = re.compile(r"(?<![\w.])((?:aws|archive)_\w+)\.([A-Za-z_][\w-]*)")
DATA_REF = re.compile(r"(?<![\w.])data\.(\w+)\.([A-Za-z_][\w-]*)")
# ${jsonencode(name)} and ${name}; $${...} is a literal "${...}" in a Terraform template.
TEMPLATE_PLACEHOLDERS = (re.compile(r"(?<!\$)\$\{jsonencode\((\w+)\)\}"), re.compile(r"(?<!\$)\$\{(\w+)\}"))


def module_id(path: Path) -> str:
    relative = path.relative_to(REPO_ROOT).as_posix()
    return "root" if relative == "." else relative


# --- the checker -----------------------------------------------------------------------------------


def code_of(module: Module) -> str:
    """All expressions of every block of the module, as one text."""
    return "\n".join(expression_text(document) for document in module.documents.values())


def reference_problems(path: Path) -> list[str]:
    """What the module at path references but does not define, and module calls that do not fit the
    module they call. An empty list means terraform would resolve every reference."""
    module = load_module(path)
    code = code_of(module)
    problems: list[str] = []

    problems += [
        f"var.{name} is not declared" for name in sorted(set(VAR_REF.findall(code)) - module.variables.keys())
    ]
    problems += [
        f"local.{name} is not defined" for name in sorted(set(LOCAL_REF.findall(code)) - module.locals.keys())
    ]

    resources = {(block.type, block.name) for block in module.resources}
    data = {(block.type, block.name) for block in module.data}
    problems += [
        f"{kind}.{name} is not declared" for kind, name in sorted(set(RESOURCE_REF.findall(code)) - resources)
    ]
    problems += [
        f"data.{kind}.{name} is not declared" for kind, name in sorted(set(DATA_REF.findall(code)) - data)
    ]

    for call_name, output in sorted(set(MODULE_REF.findall(code))):
        call = module.module_calls.get(call_name)
        if call is None:
            problems.append(f"module.{call_name} is not declared")
            continue
        called = module.called_module_path(call)
        if output and called is not None and output not in load_module(called).outputs:
            problems.append(f"module.{call_name}.{output}: {call.source} has no output {output!r}")

    for call in module.module_calls.values():
        called_path = module.called_module_path(call)
        if called_path is None:
            continue
        if not called_path.is_dir():
            problems.append(f"module.{call.name}: source {call.source} is not a directory")
            continue
        called = load_module(called_path)
        arguments = call.arguments.keys() - MODULE_META_ARGUMENTS
        problems += [
            f"module.{call.name}: {call.source} has no variable {name!r}"
            for name in sorted(arguments - called.variables.keys())
        ]
        problems += [
            f"module.{call.name}: required variable {name!r} of {call.source} is not passed"
            for name, variable in sorted(called.variables.items())
            if variable.required and name not in arguments
        ]
    return problems


def unused_declarations(path: Path) -> list[str]:
    """Variables and locals of the module at path that nothing reads (a variable's own validation does
    not count)."""
    module = load_module(path)
    code = "\n".join(
        expression_text({kind: blocks for kind, blocks in document.items() if kind != "variable"})
        for document in module.documents.values()
    )
    unused = [f"var.{name}" for name in sorted(module.variables.keys() - set(VAR_REF.findall(code)))]
    return unused + [f"local.{name}" for name in sorted(module.locals.keys() - set(LOCAL_REF.findall(code)))]


def template_placeholders(text: str) -> set[str]:
    return {name for pattern in TEMPLATE_PLACEHOLDERS for name in pattern.findall(text)}


def top_level_keys(object_literal: str) -> set[str]:
    """Keys of an HCL object literal `{a = 1, b = f(x, y)}` (its outermost level only)."""
    inner = object_literal.strip()
    assert inner.startswith("{") and inner.endswith("}"), object_literal
    keys, depth, quote, start = set(), 0, False, 1
    for index, char in enumerate(inner[1:-1] + ",", start=1):
        if char == '"':
            quote = not quote
        elif not quote and char in "([{":
            depth += 1
        elif not quote and char in ")]}":
            depth -= 1
        elif not quote and depth == 0 and char in ",\n":
            entry = inner[start:index].strip()
            if entry:
                keys.add(re.match(r"([\w-]+)\s*=", entry).group(1))
            start = index + 1
    return keys


def templatefile_calls(module: Module) -> list[tuple[str, set[str]]]:
    """(template path, keys passed) of every templatefile() call with a literal object argument; a path
    given as a reference is returned as an interpolation (``${var.x}``)."""
    calls = []
    for code in code_of(module).splitlines():
        for match in re.finditer(r'templatefile\(\s*(?:"([^"]*)"|([\w.]+))\s*,\s*', code):
            rest = code[match.end() :]
            template = match.group(1) if match.group(1) is not None else "${" + match.group(2) + "}"
            if rest.startswith("{"):
                calls.append((template, top_level_keys(rest[: closing_brace(rest, 0) + 1])))
    return calls


# --- the repository's modules ----------------------------------------------------------------------


@pytest.mark.parametrize("path", MODULE_DIRS, ids=module_id)
def test_every_reference_resolves_and_every_module_call_fits(path: Path) -> None:
    assert reference_problems(path) == []


@pytest.mark.parametrize("path", MODULE_DIRS, ids=module_id)
def test_every_variable_and_local_is_used(path: Path) -> None:
    assert unused_declarations(path) == []


def test_the_modules_the_issue_names_exist() -> None:
    names = {module_id(path) for path in MODULE_DIRS}
    assert {
        "root",
        "modules/storage",
        "modules/notification",
        "modules/compute",
        "modules/state_machine",
        "modules/api",
        "examples/complete",
    } <= names


@pytest.mark.parametrize("path", MODULE_DIRS, ids=module_id)
def test_every_variable_has_a_type_and_a_description(path: Path) -> None:
    module = load_module(path)
    untyped = [name for name, variable in module.variables.items() if not variable.type]
    undescribed = [
        name for name, variable in module.variables.items() if not (variable.description or "").strip()
    ]
    assert (untyped, undescribed) == ([], [])


@pytest.mark.parametrize("path", MODULE_DIRS, ids=module_id)
def test_every_output_has_a_description(path: Path) -> None:
    module = load_module(path)
    assert [name for name, output in module.outputs.items() if not (output.description or "").strip()] == []


@pytest.mark.parametrize("path", REUSABLE_DIRS, ids=module_id)
def test_reusable_modules_pin_minimum_versions_and_configure_no_provider(path: Path) -> None:
    module = load_module(path)
    assert module.providers == [], "provider blocks belong to the caller (examples/complete)"
    assert module.required_version == ">= 1.5.7"
    assert module.required_providers["aws"] == {"source": "hashicorp/aws", "version": ">= 5.77"}
    used = {block.type.split("_", 1)[0] for block in module.resources + module.data}
    if path == REPO_ROOT or "archive" in used:
        assert module.required_providers["archive"] == {"source": "hashicorp/archive", "version": ">= 2.5"}
    for spec in module.required_providers.values():
        assert "<" not in spec["version"] and "~>" not in spec["version"], "no upper bounds"


def test_the_root_module_only_wires_the_submodules() -> None:
    root = load_module(REPO_ROOT)
    assert (root.resources, root.data) == ([], [])
    assert {call.source for call in root.module_calls.values()} == {
        "./modules/storage",
        "./modules/notification",
        "./modules/compute",
        "./modules/state_machine",
        "./modules/api",
        "./modules/caller_policy",
    }


def test_the_example_uses_the_root_module_and_configures_the_provider() -> None:
    example = load_module(REPO_ROOT / "examples" / "complete")
    assert [call.source for call in example.module_calls.values()] == ["../.."]
    assert example.providers == ["aws"]
    assert (REPO_ROOT / "examples" / "complete" / "terraform.tfvars.example").is_file()


def test_every_asl_placeholder_is_passed_to_templatefile_and_every_key_is_used() -> None:
    module = load_module(REPO_ROOT / "modules" / "state_machine")
    calls = templatefile_calls(module)
    assert [template for template, _ in calls] == ["${var.definition_template_path}"]
    root_call = load_module(REPO_ROOT).module_calls["state_machine"]
    assert root_call.arguments["definition_template_path"] == "${path.module}/sfn/image_downloader.asl.json"
    if not ASL_TEMPLATE.is_file():
        pytest.skip("sfn/image_downloader.asl.json does not exist yet")
    placeholders = template_placeholders(ASL_TEMPLATE.read_text())
    (_, keys) = calls[0]
    assert placeholders, "the template has no ${...} placeholder"
    assert {"missing": sorted(placeholders - keys), "unused": sorted(keys - placeholders)} == {
        "missing": [],
        "unused": [],
    }


def test_templatefile_keys_are_the_placeholders_of_the_design() -> None:
    design = (REPO_ROOT / "docs" / "design.md").read_text()
    section = design.split("## ASL template", 1)[1]
    documented = set(re.findall(r"^\|\s*`(\w+)`\s*\|", section, re.MULTILINE))
    (_, keys) = templatefile_calls(load_module(REPO_ROOT / "modules" / "state_machine"))[0]
    assert keys == documented


# --- the checker catches planted mistakes ----------------------------------------------------------


def write_module(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


CHILD = {
    "variables.tf": """
        variable "name" {
          description = "Name."
          type        = string
        }

        variable "size" {
          description = "Size."
          type        = number
          default     = 1
        }
    """,
    "outputs.tf": """
        output "id" {
          description = "The id."
          value       = var.name
        }
    """,
}


def test_checker_accepts_a_consistent_module(tmp_path: Path) -> None:
    write_module(tmp_path / "child", CHILD)
    root = write_module(
        tmp_path / "root",
        {
            "main.tf": """
                variable "prefix" {
                  description = "Prefix."
                  type        = string
                }

                locals {
                  name = "${var.prefix}-x"
                }

                module "child" {
                  source = "../child"
                  name   = local.name
                }

                resource "aws_s3_bucket" "this" {
                  bucket = module.child.id
                }

                output "bucket" {
                  description = "Bucket."
                  value       = aws_s3_bucket.this.id
                }
            """
        },
    )
    assert reference_problems(root) == []


def test_checker_catches_an_undeclared_variable(tmp_path: Path) -> None:
    root = write_module(
        tmp_path,
        {
            "main.tf": """
                variable "prefix" {
                  description = "Prefix."
                  type        = string
                }

                resource "aws_s3_bucket" "this" {
                  bucket = "${var.prefix}-${var.sufix}"
                }
            """
        },
    )
    assert reference_problems(root) == ["var.sufix is not declared"]


def test_checker_catches_a_missing_required_module_argument_and_an_unknown_one(tmp_path: Path) -> None:
    write_module(tmp_path / "child", CHILD)
    root = write_module(
        tmp_path / "root",
        {
            "main.tf": """
                module "child" {
                  source = "../child"
                  sise   = 2
                }
            """
        },
    )
    assert reference_problems(root) == [
        "module.child: ../child has no variable 'sise'",
        "module.child: required variable 'name' of ../child is not passed",
    ]


def test_checker_catches_an_unknown_module_output_and_undeclared_blocks(tmp_path: Path) -> None:
    write_module(tmp_path / "child", CHILD)
    root = write_module(
        tmp_path / "root",
        {
            "main.tf": """
                module "child" {
                  source = "../child"
                  name   = "x"
                }

                resource "aws_s3_bucket" "this" {
                  bucket = module.child.arn
                  tags   = { a = local.missing, b = data.aws_region.current.region }
                }

                output "bucket" {
                  description = "Bucket."
                  value       = aws_s3_bucket.that.id
                }
            """
        },
    )
    assert reference_problems(root) == [
        "local.missing is not defined",
        "aws_s3_bucket.that is not declared",
        "data.aws_region.current is not declared",
        "module.child.arn: ../child has no output 'arn'",
    ]


def test_checker_catches_unused_variables_and_locals(tmp_path: Path) -> None:
    root = write_module(
        tmp_path,
        {
            "main.tf": """
                variable "used" {
                  description = "Used."
                  type        = string
                }

                variable "forgotten" {
                  description = "Only its own validation reads it."
                  type        = string

                  validation {
                    condition     = length(var.forgotten) > 0
                    error_message = "Must not be empty."
                  }
                }

                locals {
                  kept    = var.used
                  dropped = 1
                }

                output "kept" {
                  description = "Kept."
                  value       = local.kept
                }
            """
        },
    )
    assert unused_declarations(root) == ["var.forgotten", "local.dropped"]


def test_placeholder_parsing_covers_both_placeholder_forms() -> None:
    text = '{"a": ${jsonencode(first)}, "b": "${second}", "c": "$${literal}"}'
    assert template_placeholders(text) == {"first", "second"}


def test_templatefile_keys_are_read_from_the_object_literal() -> None:
    module_code = 'templatefile("t.json", {a = var.x, b = max(1, 2), c = {d = 1}})'
    assert interpolations("${" + module_code + "}") == [module_code]
    assert top_level_keys("{a = var.x, b = max(1, 2), c = {d = 1}}") == {"a", "b", "c"}
