"""Check the aws_* resource and data blocks of .tf files against the AWS provider schema, offline.

A stand-in for `terraform validate` where no provider binary can be downloaded. It knows the argument
and block names of each type (tests/data/aws_provider_schema.json, from `make schema`), not their
value types or the provider's own validators.

    python -m tools.schema_check [paths...]    # files or directories; default: the repository
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

import hcl2
from hcl2.utils import SerializationOptions
from lark.exceptions import LarkError

from tools.provider_schema import REPO_ROOT, SCHEMA_PATH, iter_tf_files

HCL_OPTIONS = SerializationOptions(with_comments=False)
KINDS = ("resource", "data")
META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider"})
META_BLOCKS = frozenset({"lifecycle", "provisioner", "connection"})
META_NAMES = META_ARGUMENTS | META_BLOCKS
DYNAMIC_KEYS = frozenset({"for_each", "iterator", "labels", "content"})
BLOCK_HEADER = re.compile(r'^[ \t]*(resource|data)[ \t]+"?([\w-]+)"?[ \t]+"?([\w-]+)"?', re.MULTILINE)

Schema = dict
Body = dict


@dataclass(frozen=True)
class Finding:
    """One mistake; line is that of the resource/data header (python-hcl2 keeps no positions)."""

    file: str
    line: int
    address: str
    path: str
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.address, self.path) if part)
        return f"{self.file}:{self.line}: {where}: {self.message}"


@dataclass
class Report:
    files: int = 0
    blocks: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, other: Report) -> None:
        self.files += other.files
        self.blocks += other.blocks
        self.findings.extend(other.findings)


@dataclass(frozen=True)
class _Where:
    """The top-level block a finding belongs to."""

    file: str
    line: int
    address: str

    def finding(self, path: tuple[str, ...], message: str) -> Finding:
        return Finding(self.file, self.line, self.address, ".".join(path), message)


@functools.cache
def load_schema(path: Path = SCHEMA_PATH) -> Schema:
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make schema`")
    return json.loads(path.read_text())


def check_tree(paths: Iterable[Path] = (REPO_ROOT,), schema: Schema | None = None) -> Report:
    """Every .tf file in paths (files, or directories searched like `make schema` does)."""
    report = Report()
    for path in paths:
        for file in [path] if path.is_file() else iter_tf_files(path):
            report.add(check_file(file, schema))
    return report


def check_file(path: Path, schema: Schema | None = None) -> Report:
    schema = schema or load_schema()
    text = path.read_text()
    try:
        document = hcl2.loads(text, serialization_options=HCL_OPTIONS)
    except LarkError as error:
        first_line = str(error).splitlines()[0]
        return Report(files=1, findings=[Finding(str(path), 0, "", "", f"cannot parse: {first_line}")])
    lines = _header_lines(text)
    report = Report(files=1)
    for kind, tf_type, name, body in _aws_blocks(document):
        address = f"{tf_type}.{name}" if kind == "resource" else f"data.{tf_type}.{name}"
        where = _Where(str(path), lines.get((kind, tf_type, name), 0), address)
        report.blocks += 1
        report.findings.extend(_check_top_level(kind, tf_type, body, schema, where))
    return report


def _header_lines(text: str) -> dict[tuple[str, str, str], int]:
    """python-hcl2 keeps no line numbers; find each block header in the text instead."""
    return {match.groups(): text.count("\n", 0, match.start()) + 1 for match in BLOCK_HEADER.finditer(text)}


def _aws_blocks(document: dict) -> Iterator[tuple[str, str, str, Body]]:
    for kind in KINDS:
        for labelled in document.get(kind, []):
            for tf_type, by_name in labelled.items():
                for name, body in by_name.items():
                    if _unquote(tf_type).startswith("aws_"):
                        yield kind, _unquote(tf_type), _unquote(name), body


def _check_top_level(kind: str, tf_type: str, body: Body, schema: Schema, where: _Where) -> Iterator[Finding]:
    type_schema = schema[kind].get(tf_type)
    if type_schema is None:
        yield where.finding((), _unknown_type_message(kind, tf_type, schema[kind]))
        return
    provider_owned = {k: v for k, v in body.items() if k not in META_NAMES}
    yield from _check_body(provider_owned, type_schema, (), where, also_known=META_NAMES)


def _unknown_type_message(kind: str, tf_type: str, known: dict) -> str:
    message = f'{kind} type "{tf_type}" is not in {SCHEMA_PATH.name}: if it exists, run `make schema`'
    return message + _suggestion(tf_type, known)


def _check_body(
    body: Body, schema: Schema, path: tuple[str, ...], where: _Where, also_known: Iterable[str] = ()
) -> Iterator[Finding]:
    """also_known: names that are valid here although not in the schema (for suggestions only)."""
    arguments, blocks = schema["arguments"], schema["blocks"]
    for key, value in _items(body):
        if key == "dynamic":
            yield from _check_dynamics(value, schema, path, where)
        elif key in blocks:
            yield from _check_block(key, value, blocks[key], path, where)
        elif key in arguments:
            yield from _check_argument(key, value, arguments[key], path, where)
        else:
            what = "block type" if _is_block(value) else "argument"
            yield where.finding(
                (*path, key), f'unknown {what} "{key}"' + _suggestion(key, [*arguments, *blocks, *also_known])
            )
    yield from _check_required(body, schema, path, where)


def _check_block(
    name: str, value: object, schema: Schema, path: tuple[str, ...], where: _Where
) -> Iterator[Finding]:
    if not _is_block(value):
        yield where.finding(
            (*path, name), f'"{name}" is a block: write `{name} {{ ... }}`, not `{name} = ...`'
        )
        return
    if schema == "any":
        return
    if schema["nesting"] == "single" and len(value) > 1:
        yield where.finding((*path, name), f'at most one "{name}" block is allowed, found {len(value)}')
    for index, body in enumerate(value):
        segment = name if schema["nesting"] == "single" and len(value) == 1 else f"{name}[{index}]"
        yield from _check_body(body, schema, (*path, segment), where)


def _check_argument(
    name: str, value: object, schema: Schema, path: tuple[str, ...], where: _Where
) -> Iterator[Finding]:
    if _is_block(value) and not schema.get("block_syntax"):
        example = "{ ... }" if schema.get("object") else "..."
        yield where.finding(
            (*path, name), f'"{name}" is an argument: write `{name} = {example}`, not a block'
        )


def _check_dynamics(value: object, schema: Schema, path: tuple[str, ...], where: _Where) -> Iterator[Finding]:
    for labelled in value if isinstance(value, list) else []:
        for label, body in labelled.items():
            yield from _check_dynamic(_unquote(label), body, schema, path, where)


def _check_dynamic(
    name: str, dynamic: Body, schema: Schema, path: tuple[str, ...], where: _Where
) -> Iterator[Finding]:
    here = (*path, f"{name}[dynamic]")
    for key, _ in _items(dynamic):
        if key not in DYNAMIC_KEYS:
            yield where.finding(
                (*here, key), f'unknown argument "{key}" in a dynamic block' + _suggestion(key, DYNAMIC_KEYS)
            )
    block = schema["blocks"].get(name)
    if block is None:
        yield from _dynamic_of_non_block(name, schema, here, where)
    elif not _is_block(dynamic.get("content")):
        yield where.finding(here, f'dynamic "{name}" needs a `content {{ ... }}` block')
    elif block != "any":
        yield from _check_body(dynamic["content"][0], block, here, where)


def _dynamic_of_non_block(
    name: str, schema: Schema, here: tuple[str, ...], where: _Where
) -> Iterator[Finding]:
    argument = schema["arguments"].get(name)
    if argument is None:
        yield where.finding(here, f'unknown block type "{name}"' + _suggestion(name, schema["blocks"]))
    elif not argument.get("block_syntax"):
        yield where.finding(here, f'"{name}" is an argument, and dynamic only generates blocks')


def _check_required(body: Body, schema: Schema, path: tuple[str, ...], where: _Where) -> Iterator[Finding]:
    dynamic_labels = {_unquote(label) for labelled in body.get("dynamic", []) for label in labelled}
    for name, argument in schema["arguments"].items():
        if argument["required"] and name not in body:
            yield where.finding(path, f'missing required argument "{name}"')
    for name, block in schema["blocks"].items():
        required = block != "any" and block["required"]
        if required and name not in body and name not in dynamic_labels:
            yield where.finding(path, f'missing required block "{name}"')


def _items(body: Body) -> Iterator[tuple[str, object]]:
    """Key/value pairs without python-hcl2's markers such as __is_block__."""
    return ((k, v) for k, v in body.items() if not (k.startswith("__") and k.endswith("__")))


def _is_block(value: object) -> TypeGuard[list[dict]]:
    """python-hcl2 gives blocks as lists of dicts marked __is_block__; `x = [{...}]` has no marker."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _suggestion(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f'; did you mean "{close[0]}"?' if close else ""


def main(argv: list[str]) -> int:
    report = check_tree([Path(arg) for arg in argv] or [REPO_ROOT])
    for finding in report.findings:
        print(finding)
    print(
        f"checked {report.blocks} aws_* blocks in {report.files} .tf files: {len(report.findings)} findings",
        file=sys.stderr,
    )
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
