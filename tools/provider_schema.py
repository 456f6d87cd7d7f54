"""Regenerate tests/data/aws_provider_schema.json from the pinned CDKTF bindings of the AWS provider.

`terraform validate` needs the provider binary, which cannot be downloaded here. The prebuilt CDKTF
package on PyPI carries the provider schema as a jsii assembly; this script reads it and writes the
arguments and blocks of every aws_* type the repository uses (plus EXTRA_TYPES) for
tools/schema_check.py. Run with `make schema`; it needs PyPI, the check does not.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

CDKTF_PACKAGE = "cdktf-cdktf-provider-aws"
CDKTF_VERSION = "21.22.1"
PROVIDER_VERSION = "6.25.0"

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO_ROOT / "tests" / "data" / "aws_provider_schema.json"
ASSEMBLY_MEMBER = f"cdktf_cdktf_provider_aws/_jsii/provider-aws@{CDKTF_VERSION}.jsii.tgz"

# Types the module is expected to use, so the schema file stays stable while it is being written.
EXTRA_TYPES: dict[str, tuple[str, ...]] = {
    "resource": (
        "aws_apigatewayv2_api",
        "aws_apigatewayv2_authorizer",
        "aws_apigatewayv2_integration",
        "aws_apigatewayv2_route",
        "aws_apigatewayv2_stage",
        "aws_cloudwatch_log_group",
        "aws_dynamodb_table",
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_kms_alias",
        "aws_kms_key",
        "aws_lambda_function",
        "aws_lambda_permission",
        "aws_s3_bucket",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_logging",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_sfn_state_machine",
        "aws_sns_topic",
        "aws_sns_topic_policy",
        "aws_sns_topic_subscription",
    ),
    "data": ("aws_caller_identity", "aws_iam_policy_document", "aws_partition", "aws_region"),
}

# Registry sections in the docs links, keyed by the Terraform block keyword.
DOCS_SECTIONS = {"resources": "resource", "data-sources": "data"}
CLASS_SUMMARY = re.compile(
    r"^Represents a \{@link https://registry\.terraform\.io/providers/hashicorp/aws/(?P<version>[^/]+)"
    r"/docs/(?P<section>resources|data-sources)/\S+ (?P<tf_type>aws_\w+)\}\.?$"
)
PROPERTY_ANCHOR = re.compile(r"\{@link https://registry\.terraform\.io/\S+#(?P<tf_name>\w+) ")
TF_BLOCK_HEADER = re.compile(r'^[ \t]*(?P<kind>resource|data)[ \t]+"(?P<tf_type>aws_\w+)"', re.MULTILINE)
# Inherited from cdktf.TerraformMetaArguments; Terraform handles them, the provider schema does not.
META_PROPERTIES = frozenset(
    {"connection", "count", "dependsOn", "forEach", "lifecycle", "provider", "provisioners"}
)
RESOLVABLE = "cdktf.IResolvable"

Assembly = dict
Schema = dict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="use this wheel instead of downloading it from PyPI")
    parser.add_argument("--output", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args()
    assembly = load_assembly(args.wheel) if args.wheel else download_assembly()
    wanted = {kind: sorted(set(EXTRA_TYPES[kind]) | types) for kind, types in used_types(REPO_ROOT).items()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(build_schema(assembly, wanted)))
    print(f"wrote {args.output.relative_to(REPO_ROOT)}: {sum(map(len, wanted.values()))} types")


def download_assembly() -> Assembly:
    with tempfile.TemporaryDirectory() as download_dir:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
                *("--disable-pip-version-check", "--quiet", "--dest", download_dir),
                f"{CDKTF_PACKAGE}=={CDKTF_VERSION}",
            ],
            check=True,
        )
        (wheel,) = Path(download_dir).glob("*.whl")
        return load_assembly(wheel)


def load_assembly(wheel: Path) -> Assembly:
    with zipfile.ZipFile(wheel) as archive:
        tarball = archive.read(ASSEMBLY_MEMBER)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as package:
        member = package.extractfile("package/.jsii")
        assert member is not None, "the jsii tarball has no package/.jsii"
        assembly = json.load(member)
    if assembly.get("version") != CDKTF_VERSION:
        raise SystemExit(f"assembly version {assembly.get('version')} != pinned {CDKTF_VERSION}")
    return assembly


def iter_tf_files(root: Path) -> Iterator[Path]:
    """Every .tf file under root, outside .terraform/ caches, virtualenvs and .git."""
    for path in sorted(root.rglob("*.tf")):
        parts = path.relative_to(root).parts[:-1]
        if not any(part in {".terraform", ".git"} or part.startswith(".venv") for part in parts):
            yield path


def used_types(root: Path) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {"data": set(), "resource": set()}
    for path in iter_tf_files(root):
        for match in TF_BLOCK_HEADER.finditer(path.read_text()):
            used[match["kind"]].add(match["tf_type"])
    return used


def build_schema(assembly: Assembly, wanted: dict[str, list[str]]) -> dict[str, dict[str, Schema]]:
    types = assembly["types"]
    configs = config_structs(types)
    missing = [
        f"{kind} {name}" for kind, names in wanted.items() for name in names if name not in configs[kind]
    ]
    if missing:
        raise SystemExit(f"not in the AWS provider {PROVIDER_VERSION}: {', '.join(missing)}")
    return {
        kind: {name: config_schema(types, configs[kind][name]) for name in names}
        for kind, names in wanted.items()
    }


def config_structs(types: dict[str, dict]) -> dict[str, dict[str, str]]:
    """{"resource"|"data": {tf_type: fqn of its ...Config struct}} from the classes' docs."""
    configs: dict[str, dict[str, str]] = {"data": {}, "resource": {}}
    for jsii_type in types.values():
        match = CLASS_SUMMARY.match(jsii_type.get("docs", {}).get("summary", ""))
        if not match:
            continue
        if match["version"] != PROVIDER_VERSION:
            raise SystemExit(
                f"{match['tf_type']} documents provider {match['version']}, not {PROVIDER_VERSION}"
            )
        (config,) = (p for p in jsii_type["initializer"]["parameters"] if p["name"] == "config")
        configs[DOCS_SECTIONS[match["section"]]][match["tf_type"]] = config["type"]["fqn"]
    return configs


def config_schema(types: dict[str, dict], fqn: str) -> Schema:
    props = [p for p in properties(types, fqn) if p["name"] not in META_PROPERTIES]
    # An `id` argument marks an SDKv2 resource (plugin-framework resources compute theirs).
    return properties_schema(types, props, sdk_v2=any(p["name"] == "id" for p in props))


def properties(types: dict[str, dict], fqn: str) -> list[dict]:
    return types[fqn].get("properties", [])


def properties_schema(types: dict[str, dict], props: list[dict], *, sdk_v2: bool) -> Schema:
    arguments: dict[str, dict] = {}
    blocks: dict[str, dict | str] = {}
    for prop in props:
        name = terraform_name(prop)
        if prop["docs"].get("summary") == f"{name} block.":
            blocks[name] = block_schema(types, prop, sdk_v2=sdk_v2)
        else:
            arguments[name] = argument_schema(prop, sdk_v2=sdk_v2)
    return {"arguments": arguments, "blocks": blocks}


def terraform_name(prop: dict) -> str:
    """The `#name` anchor of the registry link in the docs.

    Converting the camelCase property name gets dozens wrong: selfAttribute is `self`,
    fetchPasswordData is `get_password_data`, addressLine1 is `address_line_1`.
    """
    anchors = {m["tf_name"] for text in prop["docs"].values() for m in PROPERTY_ANCHOR.finditer(str(text))}
    if len(anchors) != 1:
        raise SystemExit(f"property {prop['name']}: expected one registry anchor, found {sorted(anchors)}")
    return anchors.pop()


def block_schema(types: dict[str, dict], prop: dict, *, sdk_v2: bool) -> dict | str:
    jsii_type = prop["type"]
    if jsii_type.get("primitive") == "any":
        return "any"  # the bindings cut the recursion here (e.g. wafv2 statement)
    nesting, fqn = struct_nesting(jsii_type)
    if nesting not in {"single", "list"}:
        raise SystemExit(f"block {prop['name']}: unexpected type {json.dumps(jsii_type)}")
    required = not prop.get("optional", False)
    return {
        "nesting": nesting,
        "required": required,
        **properties_schema(types, properties(types, fqn), sdk_v2=sdk_v2),
    }


def argument_schema(prop: dict, *, sdk_v2: bool) -> dict:
    schema: dict = {"required": not prop.get("optional", False)}
    nesting, _ = struct_nesting(prop["type"])
    if nesting:
        schema["object"] = nesting
        # In SDKv2 resources these are "attributes as blocks" (security_group ingress, route_table
        # route): Terraform accepts both syntaxes. Plugin-framework nested attributes only `x = {...}`.
        if sdk_v2:
            schema["block_syntax"] = True
    return schema


def struct_nesting(jsii_type: dict) -> tuple[str | None, str]:
    """("single"|"list"|"map", struct fqn) when the type is a struct or a collection of structs."""
    if "fqn" in jsii_type and jsii_type["fqn"] != RESOLVABLE:
        return "single", jsii_type["fqn"]
    for member in jsii_type.get("union", {}).get("types", []):
        collection = member.get("collection", {})
        element = collection.get("elementtype", {})
        if "fqn" in element:
            return {"array": "list", "map": "map"}[collection["kind"]], element["fqn"]
    return None, ""


def render(schema: dict[str, dict[str, Schema]]) -> str:
    """Valid JSON with one type per line, so a provider bump shows as a readable diff."""
    meta = {
        "source": f"pip {CDKTF_PACKAGE}=={CDKTF_VERSION} (jsii assembly)",
        "provider": f"hashicorp/aws {PROVIDER_VERSION}",
        "regenerate": "make schema",
        "format": (
            "type: {arguments: {name: {required, object?: single|list|map, block_syntax?}}, "
            "blocks: {name: {nesting: single|list, required, arguments, blocks} | 'any' (recursion cut)}}"
        ),
    }
    sections = []
    for kind in sorted(schema):
        lines = [f"{json.dumps(name)}: {compact(body)}" for name, body in sorted(schema[kind].items())]
        sections.append(f'"{kind}": {{\n' + ",\n".join(lines) + "\n}")
    return "{\n" + ",\n".join([f'"_meta": {json.dumps(meta, sort_keys=True)}', *sections]) + "\n}\n"


def compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


if __name__ == "__main__":
    main()
