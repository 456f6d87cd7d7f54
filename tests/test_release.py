"""What a release needs stays consistent: the license, the changelog, the tag the README pins, and the
pre-commit hooks that mirror `make test`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tools.release_notes import ReleaseError, release_notes

REPO_ROOT = Path(__file__).resolve().parent.parent
SEMVER_TAG = re.compile(r"\?ref=v(\d+\.\d+\.\d+)\"")
RELEASE_HEADING = re.compile(r"^## \[(.+?)\](?: - (\d{4}-\d{2}-\d{2}))?$", re.MULTILINE)


def changelog_versions() -> list[tuple[str, str | None]]:
    return RELEASE_HEADING.findall((REPO_ROOT / "CHANGELOG.md").read_text())


def test_license_is_the_full_apache_2_text() -> None:
    text = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    for section in (
        "1. Definitions.",
        "4. Redistribution.",
        "9. Accepting Warranty or Additional Liability.",
    ):
        assert section in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_changelog_starts_with_unreleased_and_dates_each_release() -> None:
    versions = changelog_versions()
    assert versions[0] == ("Unreleased", "")
    for version, date in versions[1:]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{version}: not MAJOR.MINOR.PATCH"
        assert date, f"{version}: a release section needs its date"
    unreleased = (REPO_ROOT / "CHANGELOG.md").read_text().split("## [Unreleased]")[1].split("\n## [")[0]
    assert "### Added" in unreleased


def test_readme_pins_a_tag_the_changelog_plans_or_lists() -> None:
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    released = {name for name, _ in changelog_versions()}
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    for document in ("README.md", "docs/terraform.md", "CHANGELOG.md"):
        pinned = SEMVER_TAG.findall((REPO_ROOT / document).read_text())
        assert pinned, f"{document}: no module source pinned with ?ref=vX.Y.Z"
        for tag in pinned:
            assert tag == version or tag in released, f"{document}: v{tag} is neither {version} nor released"
    if version not in released:
        assert f"### Planned for {version}" in changelog


def requirement_pin(name: str) -> str:
    for line in (REPO_ROOT / "requirements-dev.txt").read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in requirements-dev.txt")


def test_pre_commit_runs_the_checks_of_make_test_with_the_same_versions() -> None:
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    repos = {repo["repo"]: repo for repo in config["repos"]}
    ruff = repos["https://github.com/astral-sh/ruff-pre-commit"]
    local = {hook["id"]: hook for hook in repos["local"]["hooks"]}

    assert ruff["rev"] == f"v{requirement_pin('ruff')}"
    assert {hook["id"] for hook in ruff["hooks"]} == {"ruff-check", "ruff-format"}
    assert local["terraform-fmt"]["entry"].startswith("terraform fmt")
    makefile = (REPO_ROOT / "Makefile").read_text()
    for hook_id, target in (("make-docs", "docs"), ("checkov", "checkov")):
        assert local[hook_id]["entry"] == f"make {target}"
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"make {target} does not exist"
        assert local[hook_id]["pass_filenames"] is False
    for hook in local.values():
        assert re.search(hook["files"], "main.tf"), f"{hook['id']} does not run when a .tf file changes"
    assert re.search(local["make-docs"]["files"], "sfn/image_downloader.asl.json")


RELEASED = """# Changelog

## [Unreleased]

### Added
- next thing

## [0.2.0] - 2027-02-01

### Changed
- **Breaking:** renamed `x` to `y`; set `y` instead.

## [0.1.0] - 2027-01-01

### Added
- first thing
"""


def pyproject(version: str) -> str:
    return f'[project]\nname = "x"\nversion = "{version}"\n'


def test_release_notes_are_the_tags_changelog_section() -> None:
    notes = release_notes("v0.2.0", RELEASED, pyproject("0.2.0"))

    assert notes == "### Changed\n- **Breaking:** renamed `x` to `y`; set `y` instead.\n"


@pytest.mark.parametrize(
    ("tag", "version", "changelog", "problem"),
    [
        ("0.2.0", "0.2.0", RELEASED, "is not vMAJOR.MINOR.PATCH"),
        ("v0.2.0", "0.1.0", RELEASED, "pyproject.toml declares version 0.1.0"),
        ("v0.3.0", "0.3.0", RELEASED, "no ## [0.3.0] section"),
        ("v0.2.0", "0.2.0", RELEASED.replace("[0.2.0] - 2027-02-01", "[0.2.0]"), "needs its date"),
    ],
)
def test_a_release_the_changelog_does_not_describe_is_refused(
    tag: str, version: str, changelog: str, problem: str
) -> None:
    with pytest.raises(ReleaseError, match=re.escape(problem)):
        release_notes(tag, changelog, pyproject(version))


def test_the_release_workflow_publishes_the_notes_of_the_pushed_tag() -> None:
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/release.yml").read_text())
    triggers = workflow.get("on") or workflow.get(True)
    steps = [step.get("run", "") for step in workflow["jobs"]["release"]["steps"]]

    assert triggers == {"push": {"tags": ["v*.*.*"]}}
    notes = next(index for index, step in enumerate(steps) if "tools.release_notes" in step)
    publish = next(index for index, step in enumerate(steps) if "gh release create" in step)
    assert notes < publish
