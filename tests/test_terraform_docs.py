"""README.md's inputs/outputs tables are the ones tools/tfdocs.py generates from the root module."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tools import tfdocs
from tools.tfdocs import (
    BEGIN_MARKER,
    DOCUMENTED_MODULES,
    END_MARKER,
    REPO_ROOT,
    MarkersMissing,
    load_module,
    render,
)


@pytest.mark.parametrize(
    ("module_path", "readme"), DOCUMENTED_MODULES, ids=lambda value: str(value.relative_to(REPO_ROOT))
)
def test_readme_tables_are_up_to_date(module_path: Path, readme: Path) -> None:
    text = readme.read_text()
    if BEGIN_MARKER not in text or END_MARKER not in text:
        pytest.fail(
            f"{readme.name} has no {BEGIN_MARKER} / {END_MARKER} section for the tables: add both lines"
        )
    assert text == tfdocs.updated_readme(text, render(load_module(module_path))), "run `make docs`"


def test_root_module_docs_list_every_input_and_output() -> None:
    docs = render(load_module(REPO_ROOT))
    root = load_module(REPO_ROOT)
    for name in root.variables:
        assert f'<a name="input_{name}"></a>' in docs
    for name in root.outputs:
        assert f'<a name="output_{name}"></a>' in docs
    assert '| <a name="input_name"></a> [name](#input\\_name) |' in docs
    assert docs.count("| yes |") == sum(variable.required for variable in root.variables.values())


def write(directory: Path, text: str) -> Path:
    (directory / "main.tf").write_text(textwrap.dedent(text))
    return directory


def test_render_shows_types_and_defaults_as_written(tmp_path: Path) -> None:
    module = load_module(
        write(
            tmp_path,
            """
            terraform {
              required_version = ">= 1.5.7"
            }

            variable "settings" {
              description = <<-EOT
                Settings.
                - a: the "a" | value.
              EOT
              type = object({
                a = optional(string, "x")
              })
              default = {}
            }

            variable "name" {
              description = "Name."
              type        = string
            }

            output "id" {
              description = "The id."
              value       = var.name
            }
            """,
        )
    )
    docs = render(module)
    assert '| <a name="requirement_terraform"></a> [terraform](#requirement\\_terraform) | >= 1.5.7 |' in docs
    assert (
        '| <a name="input_settings"></a> [settings](#input\\_settings) '
        '| Settings.<br/>- a: the "a" \\| value. '
        '| <pre>object({<br/>    a = optional(string, "x")<br/>  })</pre> | `{}` | no |'
    ) in docs
    assert '| <a name="input_name"></a> [name](#input\\_name) | Name. | `string` | n/a | yes |' in docs
    assert '| <a name="output_id"></a> [id](#output\\_id) | The id. |' in docs
    assert "No providers." in docs and "No resources." in docs


def test_readme_update_replaces_only_the_marked_section() -> None:
    readme = f"# Title\n\nintro\n\n{BEGIN_MARKER}\nold tables\n{END_MARKER}\n\nmore\n"
    assert tfdocs.updated_readme(readme, "new tables\n") == (
        f"# Title\n\nintro\n\n{BEGIN_MARKER}\nnew tables\n{END_MARKER}\n\nmore\n"
    )
    with pytest.raises(MarkersMissing):
        tfdocs.updated_readme("# Title\n", "tables\n")


def test_check_mode_fails_on_an_outdated_readme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Module\n\n{BEGIN_MARKER}\nstale\n{END_MARKER}\n")
    assert tfdocs.main(["--check", "--readme", str(readme)]) == 1
    assert "make docs" in capsys.readouterr().err
    assert tfdocs.main(["--write", "--readme", str(readme)]) == 0
    assert tfdocs.main(["--check", "--readme", str(readme)]) == 0
    assert "## Inputs" in readme.read_text()
