"""A stand-in for the hashicorp/archive Terraform provider, for machines that cannot reach the registry.

It serves the one thing this module uses: the ``archive_file`` data source with ``type = "zip"``, from a
``source_dir`` (with ``excludes`` glob patterns) or a ``source_file``, written to ``output_path`` with
``output_file_mode``, and the attributes the real provider computes (``output_base64sha256``,
``output_size``, ...). It is written on PyPI's ``tf`` package (the Terraform plugin protocol in Python)
and installed by ``tools/offline_terraform.py`` into a filesystem mirror; CI on GitHub and every user
machine that reaches the registry use the real provider instead.

The zip is reproducible: entries sorted, one fixed timestamp, so the same sources always give the same
``output_base64sha256`` and a second ``terraform plan`` shows no change.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path
from typing import Any

from tf import runner, schema, types
from tf.iface import Config, DataSource, ReadDataContext, State
from tf.provider import Provider
from tf.utils import Diagnostics

from local_runner.packaging import included_files

PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/archive"
# The real provider's release whose archive_file schema this one follows (a subset of it).
PROVIDER_VERSION = "2.7.1"
# The earliest date a zip entry can carry: entries get it instead of the files' mtimes.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

ARGUMENTS = (
    schema.Attribute("type", types.String(), required=True, description="Archive type: only zip."),
    schema.Attribute("source_dir", types.String(), optional=True, description="Folder to zip."),
    schema.Attribute("source_file", types.String(), optional=True, description="One file to zip."),
    schema.Attribute(
        "excludes",
        types.Set(types.String()),
        optional=True,
        description="Glob patterns (doublestar syntax) of files under source_dir to leave out.",
    ),
    schema.Attribute("output_path", types.String(), required=True, description="Where the zip is written."),
    schema.Attribute(
        "output_file_mode", types.String(), optional=True, description="Unix mode of every entry, e.g. 0644."
    ),
)
DIGESTS = {
    "output_md5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "output_sha": lambda data: hashlib.sha1(data, usedforsecurity=False).hexdigest(),
    "output_sha256": lambda data: hashlib.sha256(data).hexdigest(),
    "output_base64sha256": lambda data: base64.b64encode(hashlib.sha256(data).digest()).decode(),
    "output_sha512": lambda data: hashlib.sha512(data).hexdigest(),
    "output_base64sha512": lambda data: base64.b64encode(hashlib.sha512(data).digest()).decode(),
}
COMPUTED = (
    schema.Attribute("id", types.String(), computed=True, description="SHA-1 of the zip."),
    schema.Attribute("output_size", types.Number(), computed=True, description="Size of the zip in bytes."),
    *(schema.Attribute(name, types.String(), computed=True) for name in DIGESTS),
)


def source_entries(config: Config) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) pairs, sorted by name."""
    if config.get("source_file"):
        path = Path(config["source_file"])
        return [(path, path.name)]
    source = Path(config["source_dir"])
    excludes = tuple(config.get("excludes") or ())
    return [(source / name, name) for name in included_files(source, excludes)]


def write_zip(entries: list[tuple[Path, str]], output: Path, file_mode: str | None) -> bytes:
    output.parent.mkdir(parents=True, exist_ok=True)
    mode = int(file_mode, 8) if file_mode else 0o644
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, path.read_bytes())
    return output.read_bytes()


def config_problems(config: Config) -> list[str]:
    problems = []
    if config.get("type") not in (None, "zip"):
        problems.append(f'type: only "zip" is supported by this stand-in, not {config["type"]!r}')
    sources = [name for name in ("source_dir", "source_file") if config.get(name)]
    if len(sources) != 1 and config.get("type") is not None:
        problems.append("exactly one of source_dir and source_file must be set")
    mode = config.get("output_file_mode")
    if mode and not (mode.isdigit() and set(mode) <= set("01234567") and len(mode) <= 4):
        problems.append(f"output_file_mode: {mode!r} is not an octal file mode such as 0644")
    return problems


class ArchiveFile(DataSource):
    def __init__(self, provider: ArchiveProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "file"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        return schema.Schema(version=0, attributes=[*ARGUMENTS, *COMPUTED])

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        for problem in config_problems(config):
            diags.add_error(f"archive_file: {problem}")

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        problems = config_problems(config)
        if problems:
            for problem in problems:
                ctx.diagnostics.add_error(f"archive_file: {problem}")
            return None
        data = write_zip(source_entries(config), Path(config["output_path"]), config.get("output_file_mode"))
        digests = {name: digest(data) for name, digest in DIGESTS.items()}
        return {**config, **digests, "id": digests["output_sha"], "output_size": len(data)}


class ArchiveProvider(Provider):
    def get_model_prefix(self) -> str:
        return "archive_"

    def full_name(self) -> str:
        return PROVIDER_ADDRESS

    def get_provider_schema(self, diags: Diagnostics) -> schema.Schema:
        return schema.Schema(version=1)

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        pass

    def get_data_sources(self) -> list[Any]:
        return [ArchiveFile]

    def get_resources(self) -> list[Any]:
        return []


def main() -> None:
    runner.run_provider(ArchiveProvider())


if __name__ == "__main__":
    main()
