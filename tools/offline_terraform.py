"""Terraform with no registry: a CLI configuration that installs every provider from local folders.

- hashicorp/aws comes from a filesystem mirror already on the machine: ``TF_PROVIDER_MIRROR`` names it,
  or the first of ``MIRROR_CANDIDATES`` that holds ``registry.terraform.io/hashicorp/aws`` is used;
- hashicorp/archive comes from the stand-in in tools/archive_provider.py, installed here into a mirror
  of its own as a small executable that runs it with this Python.

There is no ``direct`` block, so ``terraform init`` never reaches the network: a provider that is in
neither mirror fails to install, naming the folders it looked in.

    python -m tools.offline_terraform [--dir build/terraform]   # prints the CLI config's path

then ``export TF_CLI_CONFIG_FILE=<that path>``. make test does this itself.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.archive_provider import PROVIDER_VERSION as ARCHIVE_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
MIRROR_ENV = "TF_PROVIDER_MIRROR"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
ARCHIVE_PROVIDER = "registry.terraform.io/hashicorp/archive"
# Where a machine image or a developer usually keeps provider mirrors (Terraform's implied local mirror
# directories on Linux, and the folder this project's machine kind ships them in).
MIRROR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path.home() / ".local" / "share" / "terraform" / "plugins",
    Path("/usr/local/share/terraform/plugins"),
    Path("/usr/share/terraform/plugins"),
)
DEFAULT_DIR = REPO_ROOT / "build" / "terraform"


@dataclass(frozen=True)
class OfflineTerraform:
    """What ``prepare`` made: the CLI config to point TF_CLI_CONFIG_FILE at, and the mirrors it names."""

    cli_config: Path
    aws_mirror: Path
    archive_mirror: Path

    def environment(self) -> dict[str, str]:
        return {"TF_CLI_CONFIG_FILE": str(self.cli_config)}


def has_aws_provider(mirror: Path) -> bool:
    provider = mirror / AWS_PROVIDER
    return provider.is_dir() and any(provider.iterdir())


def find_aws_mirror(candidates: tuple[Path, ...] = MIRROR_CANDIDATES) -> Path | None:
    """The mirror ``TF_PROVIDER_MIRROR`` names (even if empty, so a wrong setting is reported), or the
    first candidate that holds hashicorp/aws."""
    configured = os.environ.get(MIRROR_ENV)
    if configured:
        return Path(configured)
    return next((path for path in candidates if has_aws_provider(path)), None)


def terraform_platform() -> str:
    """Terraform's name for this machine's OS and architecture, e.g. linux_amd64."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def install_archive_provider(mirror: Path, python: str = sys.executable) -> Path:
    """Write the stand-in's executable in the unpacked mirror layout Terraform reads:
    ``<mirror>/registry.terraform.io/hashicorp/archive/<version>/<os_arch>/terraform-provider-archive_v<version>``.
    """
    folder = mirror / ARCHIVE_PROVIDER / ARCHIVE_VERSION / terraform_platform()
    folder.mkdir(parents=True, exist_ok=True)
    executable = folder / f"terraform-provider-archive_v{ARCHIVE_VERSION}"
    executable.write_text(
        "#!/bin/sh\n"
        "# The hashicorp/archive stand-in of this repository (tools/archive_provider.py).\n"
        f"PYTHONPATH={shlex.quote(str(REPO_ROOT))} exec {shlex.quote(python)} -m tools.archive_provider"
        ' "$@"\n'
    )
    executable.chmod(0o755)
    return executable


def cli_config_text(aws_mirror: Path, archive_mirror: Path) -> str:
    return f"""# Written by tools/offline_terraform.py: providers come from these folders only.
provider_installation {{
  filesystem_mirror {{
    path    = "{aws_mirror}"
    include = ["{AWS_PROVIDER}"]
  }}
  filesystem_mirror {{
    path    = "{archive_mirror}"
    include = ["{ARCHIVE_PROVIDER}"]
  }}
}}
"""


class NoAwsMirror(RuntimeError):
    """No folder with hashicorp/aws was found; the message says where it looked and what to set."""


def prepare(directory: Path = DEFAULT_DIR, aws_mirror: Path | None = None) -> OfflineTerraform:
    aws_mirror = aws_mirror or find_aws_mirror()
    if aws_mirror is None or not has_aws_provider(aws_mirror):
        looked = aws_mirror or ", ".join(str(path) for path in MIRROR_CANDIDATES)
        raise NoAwsMirror(
            f"no {AWS_PROVIDER} provider in a filesystem mirror (looked in {looked}): set {MIRROR_ENV} "
            "to a folder holding registry.terraform.io/hashicorp/aws/<version>/<os_arch>/"
        )
    directory.mkdir(parents=True, exist_ok=True)
    archive_mirror = directory / "mirror"
    install_archive_provider(archive_mirror)
    cli_config = directory / "terraformrc"
    cli_config.write_text(cli_config_text(aws_mirror, archive_mirror))
    return OfflineTerraform(cli_config, aws_mirror, archive_mirror)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where to write the config and mirror")
    arguments = parser.parse_args(argv)
    try:
        offline = prepare(arguments.dir.resolve())
    except NoAwsMirror as error:
        print(f"offline_terraform: {error}", file=sys.stderr)
        return 1
    print(offline.cli_config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
