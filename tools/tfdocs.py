"""Read Terraform modules with python-hcl2 and keep README.md's terraform-docs tables in sync with them.

Writes the Requirements, Providers, Modules, Resources, Inputs and Outputs tables of the root module
(README.md) and of examples/complete and examples/minimal (their README.md), in terraform-docs'
markdown-table format, between ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->``.

    python tools/tfdocs.py --write     # regenerate them (make docs)
    python tools/tfdocs.py --check     # exit 1 when a README is out of date

The module reader below (``load_module``) is also what tests/test_terraform_*.py check the modules with.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hcl2
from hcl2.utils import SerializationOptions

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
EXAMPLE = REPO_ROOT / "examples" / "complete"
# (module, README) pairs that `make docs` keeps in sync.
MINIMAL_EXAMPLE = REPO_ROOT / "examples" / "minimal"
DOCUMENTED_MODULES = (
    (REPO_ROOT, README),
    (EXAMPLE, EXAMPLE / "README.md"),
    (MINIMAL_EXAMPLE, MINIMAL_EXAMPLE / "README.md"),
)
BEGIN_MARKER = "<!-- BEGIN_TF_DOCS -->"
END_MARKER = "<!-- END_TF_DOCS -->"

# Literal strings come back unquoted (and unescaped), heredocs as written (see literal_text), expressions
# as "${...}".
HCL_OPTIONS = SerializationOptions(
    with_comments=False, preserve_heredocs=True, strip_string_quotes=True, explicit_blocks=True
)
HEREDOC = re.compile(r"\A<<(-?)([A-Za-z_]\w*)\r?\n(.*?)^[ \t]*\2[ \t]*\Z", re.DOTALL | re.MULTILINE)
SKIP_DIRS = frozenset(
    {".git", ".venv", ".venv-checkov", ".terraform", "build", "node_modules", ".pytest_cache", ".ruff_cache"}
)
# Arguments of a module call that are not input variables of the module.
MODULE_META_ARGUMENTS = frozenset({"source", "version", "providers", "count", "for_each", "depends_on"})


# --- reading ---------------------------------------------------------------------------------------


def terraform_files(root: Path = REPO_ROOT) -> list[Path]:
    """Every .tf file below root, outside virtualenvs, caches and .terraform directories."""
    return sorted(
        path for path in root.rglob("*.tf") if not SKIP_DIRS.intersection(path.relative_to(root).parts[:-1])
    )


def module_dirs(root: Path = REPO_ROOT) -> list[Path]:
    """Every directory below root (root included) that holds .tf files: one Terraform module each."""
    return sorted({path.parent for path in terraform_files(root)})


@functools.cache
def parse_file(path: Path) -> dict:
    """The file as python-hcl2 reads it; each file is parsed once per process."""
    return hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=HCL_OPTIONS)


def blocks(document: dict, kind: str) -> Iterator[dict]:
    """Bodies of the top-level blocks of one kind (``variable``, ``resource``, ...)."""
    for item in document.get(kind, []):
        if isinstance(item, dict):
            yield item


def attributes(body: dict) -> dict:
    """A block body without python-hcl2's bookkeeping keys."""
    return {key: value for key, value in body.items() if not key.startswith("__")}


def is_block(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and item.get("__is_block__") for item in value)
    )


def iter_strings(value: object) -> Iterator[str]:
    """Every string inside a parsed value: expressions (``${...}``), literals and keys of nested maps."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("__"):
                continue
            yield key
            yield from iter_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_strings(item)


def closing_brace(text: str, opening: int) -> int:
    """The index of the ``}`` that closes the ``{`` at ``opening`` (``len(text)`` if none), skipping
    braces inside quoted strings."""
    depth, cursor, quote = 0, opening, False
    while cursor < len(text):
        char = text[cursor]
        if char == "\\" and quote:
            cursor += 2
            continue
        if char == '"':
            quote = not quote
        elif not quote and char == "{":
            depth += 1
        elif not quote and char == "}":
            depth -= 1
            if depth == 0:
                return cursor
        cursor += 1
    return len(text)


def interpolations(text: str) -> list[str]:
    """The code inside each ``${...}`` of a string, braces balanced, outermost only."""
    found: list[str] = []
    index = 0
    while (start := text.find("${", index)) != -1:
        if start > 0 and text[start - 1] == "$":  # $${ is an escaped, literal ${
            index = start + 2
            continue
        cursor = closing_brace(text, start + 1)
        found.append(text[start + 2 : cursor])
        index = cursor + 1
    return found


def literal_text(value: object) -> str | None:
    """The text of a literal string attribute (a description) as Terraform reads it."""
    if value is None:
        return None
    text = str(value)
    heredoc = HEREDOC.match(text)
    if heredoc:
        text = heredoc.group(3)
        if heredoc.group(1):  # <<- strips the indentation common to all lines
            text = textwrap.dedent(text)
        text = text.rstrip("\n")
    return text.replace("$${", "${").replace("%%{", "%{")


def expression_text(value: object) -> str:
    """All code of a parsed value (the insides of its ``${...}``), one fragment a line."""
    return "\n".join(code for text in iter_strings(value) for code in interpolations(text))


@dataclass(frozen=True)
class Variable:
    name: str
    file: Path
    description: str | None
    type: str | None
    has_default: bool
    default: object
    validations: int

    @property
    def required(self) -> bool:
        return not self.has_default


@dataclass(frozen=True)
class Output:
    name: str
    file: Path
    description: str | None
    value: object
    sensitive: bool


@dataclass(frozen=True)
class ModuleCall:
    name: str
    file: Path
    source: str
    arguments: dict


@dataclass(frozen=True)
class Block:
    """A resource or data block."""

    kind: str
    type: str
    name: str
    file: Path
    body: dict

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{prefix}{self.type}.{self.name}"


@dataclass
class Module:
    path: Path
    documents: dict[Path, dict] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    locals: dict[str, object] = field(default_factory=dict)
    module_calls: dict[str, ModuleCall] = field(default_factory=dict)
    resources: list[Block] = field(default_factory=list)
    data: list[Block] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    required_version: str | None = None
    required_providers: dict[str, dict] = field(default_factory=dict)

    def called_module_path(self, call: ModuleCall) -> Path | None:
        """Directory of a local module source (``./`` or ``../``), None for registry or git sources."""
        if not call.source.startswith(("./", "../")):
            return None
        return (self.path / call.source).resolve()


def _type_text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


@functools.cache
def load_module(path: Path) -> Module:
    """The variables, outputs, locals, module calls, resources and settings of the .tf files in path."""
    module = Module(path=path.resolve())
    for file in sorted(module.path.glob("*.tf")):
        document = parse_file(file)
        module.documents[file] = document
        for item in blocks(document, "variable"):
            for name, body in attributes(item).items():
                module.variables[name] = Variable(
                    name=name,
                    file=file,
                    description=literal_text(body.get("description")),
                    type=_type_text(body.get("type")),
                    has_default="default" in body,
                    default=body.get("default"),
                    validations=len(body.get("validation", [])),
                )
        for item in blocks(document, "output"):
            for name, body in attributes(item).items():
                module.outputs[name] = Output(
                    name=name,
                    file=file,
                    description=literal_text(body.get("description")),
                    value=body.get("value"),
                    sensitive=body.get("sensitive") is True,
                )
        for item in blocks(document, "locals"):
            module.locals.update(attributes(item))
        for item in blocks(document, "module"):
            for name, body in attributes(item).items():
                module.module_calls[name] = ModuleCall(
                    name, file, str(body.get("source", "")), attributes(body)
                )
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for item in blocks(document, kind):
                for tf_type, named in attributes(item).items():
                    for name, body in attributes(named).items():
                        target.append(Block(kind, tf_type, name, file, body))
        for item in blocks(document, "provider"):
            module.providers.extend(attributes(item))
        for item in blocks(document, "terraform"):
            if "required_version" in item:
                module.required_version = str(item["required_version"])
            for providers in item.get("required_providers", []):
                module.required_providers.update(attributes(providers))
    return module


# --- rendering -------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("_", "\\_")


def _anchor(kind: str, name: str) -> str:
    return f'<a name="{kind}_{name}"></a> [{_escape(name)}](#{kind}\\_{_escape(name)})'


def _cell(text: str | None) -> str:
    if not text:
        return "n/a"
    return text.strip().replace("|", "\\|").replace("\n", "<br/>")


def _code(text: str) -> str:
    if "\n" in text:
        return "<pre>" + text.replace("|", "\\|").replace("\n", "<br/>") + "</pre>"
    return f"`{text}`"


def _source_of(file: Path, kind: str, name: str, attribute: str) -> str | None:
    """The source text of a block attribute as written (types and defaults keep their layout)."""
    text = file.read_text(encoding="utf-8")
    header = re.search(rf'^{kind}\s+"{re.escape(name)}"\s*\{{', text, re.MULTILINE)
    if not header:
        return None
    lines = text[header.end() :].splitlines(keepends=True)
    depth, heredoc = 1, None
    for index, line in enumerate(lines):
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        if depth == 1:
            match = re.match(rf"\s*{attribute}\s*=\s*", line)
            if match:
                return _balanced_expression(lines[index:], match.end())
        opener = re.search(r"<<-?([A-Za-z_]\w*)\s*$", line)
        if opener:
            heredoc = opener.group(1)
        depth += _brace_delta(line)
        if depth <= 0:
            return None
    return None


def _brace_delta(line: str) -> int:
    delta, quote, escape = 0, False, False
    for char in line:
        if escape:
            escape = False
        elif char == "\\":
            escape = True
        elif char == '"':
            quote = not quote
        elif not quote and char in "{[(":
            delta += 1
        elif not quote and char in "}])":
            delta -= 1
    return delta


def _balanced_expression(lines: list[str], start: int) -> str:
    collected = [lines[0][start:].rstrip()]
    depth = _brace_delta(collected[0])
    for line in lines[1:]:
        if depth <= 0:
            break
        collected.append(line.rstrip())
        depth += _brace_delta(line)
    indent = min((len(line) - len(line.lstrip()) for line in collected[1:] if line.strip()), default=0)
    base = max(indent - 2, 0)
    return "\n".join([collected[0], *(line[base:] for line in collected[1:])])


def _default_text(variable: Variable) -> str:
    if not variable.has_default:
        return "n/a"
    source = _source_of(variable.file, "variable", variable.name, "default")
    if source is not None:
        return _code(source)
    return _code(json.dumps(variable.default))


def _type_cell(variable: Variable) -> str:
    source = _source_of(variable.file, "variable", variable.name, "type")
    if source is not None:
        return _code(source)
    return _code(variable.type) if variable.type else "n/a"


def _table(header: str, align: str, rows: list[str], empty: str) -> list[str]:
    if not rows:
        return [empty]
    return [header, align, *rows]


def render(module: Module) -> str:
    """The terraform-docs markdown tables of a module."""
    lines: list[str] = []

    requirements = []
    if module.required_version:
        requirements.append(f"| {_anchor('requirement', 'terraform')} | {module.required_version} |")
    for name, spec in sorted(module.required_providers.items()):
        version = spec.get("version", "n/a") if isinstance(spec, dict) else "n/a"
        requirements.append(f"| {_anchor('requirement', name)} | {version} |")
    lines += ["## Requirements", ""]
    lines += _table("| Name | Version |", "|------|---------|", requirements, "No requirements.")

    used_providers = sorted(
        {block.type.split("_", 1)[0] for block in module.resources + module.data} | set(module.providers)
    )
    provider_rows = [
        f"| {_anchor('provider', name)} | {module.required_providers.get(name, {}).get('version', 'n/a')} |"
        for name in used_providers
    ]
    lines += ["", "## Providers", ""]
    lines += _table("| Name | Version |", "|------|---------|", provider_rows, "No providers.")

    module_rows = [
        f"| {_anchor('module', call.name)} | {call.source} | {call.arguments.get('version', 'n/a')} |"
        for call in sorted(module.module_calls.values(), key=lambda call: call.name)
    ]
    lines += ["", "## Modules", ""]
    lines += _table("| Name | Source | Version |", "|------|--------|---------|", module_rows, "No modules.")

    resource_rows = []
    for block in sorted(
        module.resources + module.data, key=lambda block: (block.type, block.name, block.kind)
    ):
        kind = "data source" if block.kind == "data" else "resource"
        slug = block.type.split("_", 1)[1] if "_" in block.type else block.type
        folder = "data-sources" if block.kind == "data" else "resources"
        provider = block.type.split("_", 1)[0]
        url = f"https://registry.terraform.io/providers/hashicorp/{provider}/latest/docs/{folder}/{slug}"
        resource_rows.append(f"| [{block.address}]({url}) | {kind} |")
    lines += ["", "## Resources", ""]
    lines += _table("| Name | Type |", "|------|------|", resource_rows, "No resources.")

    input_rows = [
        f"| {_anchor('input', var.name)} | {_cell(var.description)} | {_type_cell(var)} "
        f"| {_default_text(var)} | {'yes' if var.required else 'no'} |"
        for var in sorted(module.variables.values(), key=lambda var: var.name)
    ]
    lines += ["", "## Inputs", ""]
    lines += _table(
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
        input_rows,
        "No inputs.",
    )

    output_rows = [
        f"| {_anchor('output', out.name)} | {_cell(out.description)} |"
        for out in sorted(module.outputs.values(), key=lambda out: out.name)
    ]
    lines += ["", "## Outputs", ""]
    lines += _table("| Name | Description |", "|------|-------------|", output_rows, "No outputs.")
    return "\n".join(lines) + "\n"


# --- README ----------------------------------------------------------------------------------------


class MarkersMissing(ValueError):
    pass


def updated_readme(
    readme_text: str, docs: str, begin_marker: str = BEGIN_MARKER, end_marker: str = END_MARKER
) -> str:
    """readme_text with docs between the markers (which must each appear exactly once, in order)."""
    begin, end = readme_text.find(begin_marker), readme_text.find(end_marker)
    if (
        begin == -1
        or end < begin
        or readme_text.count(begin_marker) != 1
        or readme_text.count(end_marker) != 1
    ):
        raise MarkersMissing(f"README.md needs one {begin_marker} line followed by one {end_marker} line")
    return readme_text[: begin + len(begin_marker)] + "\n" + docs + readme_text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the tables in the README(s)")
    mode.add_argument("--check", action="store_true", help="exit 1 if the tables are out of date")
    mode.add_argument("--print", action="store_true", help="print the tables of --module")
    parser.add_argument("--module", type=Path, help="module directory (default: the root and the example)")
    parser.add_argument("--readme", type=Path, help="README of --module (default: its README.md)")
    args = parser.parse_args(argv)

    if args.module or args.readme:
        module = args.module or REPO_ROOT
        targets = [(module, args.readme or module / "README.md")]
    else:
        targets = list(DOCUMENTED_MODULES)
    if args.print:
        sys.stdout.write(render(load_module(targets[0][0])))
        return 0
    status = 0
    for module_path, readme in targets:
        status = max(status, _sync(module_path, readme, write=args.write))
    return status


def _sync(module_path: Path, readme: Path, *, write: bool) -> int:
    try:
        current = readme.read_text(encoding="utf-8")
        wanted = updated_readme(current, render(load_module(module_path)))
    except (OSError, MarkersMissing) as error:
        print(f"tfdocs: {readme}: {error}", file=sys.stderr)
        return 2
    if current == wanted:
        return 0
    if not write:
        print(f"tfdocs: {readme} is out of date: run `make docs`", file=sys.stderr)
        return 1
    readme.write_text(wanted, encoding="utf-8")
    print(f"tfdocs: updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
