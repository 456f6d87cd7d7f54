"""Render the ASL template the way Terraform's ``templatefile`` does, for the subset the template uses.

The template only uses ``${jsonencode(name)}``; anything else that Terraform would interpret (``${...}``
or ``%{...}``) is refused here, so the Python rendering and Terraform's can never silently differ.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASL_TEMPLATE = REPO_ROOT / "sfn" / "image_downloader.asl.json"

_PLACEHOLDER = re.compile(r"\$\{jsonencode\((\w+)\)\}")
_ANY_INTERPOLATION = re.compile(r"(?<!\$)[$%]\{")


class TemplateError(ValueError):
    pass


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def render(text: str, variables: Mapping[str, object]) -> str:
    """Substitute every placeholder; every placeholder must be given and every variable used."""
    stripped = _PLACEHOLDER.sub("", text)
    unsupported = _ANY_INTERPOLATION.search(stripped)
    if unsupported:
        line = stripped.count("\n", 0, unsupported.start()) + 1
        raise TemplateError(f"line {line}: only ${{jsonencode(name)}} placeholders are supported")
    wanted = placeholders(text)
    missing = sorted(wanted - variables.keys())
    unused = sorted(variables.keys() - wanted)
    if missing or unused:
        raise TemplateError(f"template variables missing: {missing}; given but unused: {unused}")
    return _PLACEHOLDER.sub(lambda match: json.dumps(variables[match.group(1)]), text)


def render_asl(variables: Mapping[str, object], template: Path = ASL_TEMPLATE) -> dict:
    """The state machine definition as Terraform would deploy it, parsed."""
    return json.loads(render(template.read_text(), variables))
