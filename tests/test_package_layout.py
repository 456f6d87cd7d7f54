"""The handler package as its next maintainer meets it: one concern per file, small files, and imports
that only go down (no file imports from one that imports it, directly or not)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lambda_src" / "image_downloader"
HANDLERS = {"batch", "download", "consolidate", "status", "notify", "cli"}
# The engine's parts: none of them may reach up into the engine or a handler.
ENGINE_PARTS = {"model", "retry", "fetch", "body", "timelimit", "netguard", "content", "encoding", "workers"}
REQUEST_PARTS = {"request", "path_sources", "problems", "urls", "keys", "reruns"}


def modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(PACKAGE.glob("*.py")) if path.stem != "__init__"}


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)


def internal_imports(path: Path) -> set[str]:
    """The package modules ``path`` imports anywhere in it, except under ``if __name__ == "__main__"``."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    body = [node for node in tree.body if not _is_main_guard(node)]
    for node in (child for top in body for child in ast.walk(top)):
        if isinstance(node, ast.ImportFrom) and node.module == "image_downloader":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("image_downloader."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("image_downloader."))
    return found & set(modules())


def import_graph() -> dict[str, set[str]]:
    return {name: internal_imports(path) for name, path in modules().items()}


def test_imports_only_go_down() -> None:
    try:
        order = list(TopologicalSorter(import_graph()).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle in lambda_src/image_downloader: {' -> '.join(error.args[1])}")
    assert set(order) == set(modules())


def test_the_engine_parts_and_request_parts_never_import_a_handler_or_the_engine() -> None:
    graph = import_graph()
    for name in ENGINE_PARTS | REQUEST_PARTS:
        upward = graph[name] & (HANDLERS | {"engine"})
        assert not upward, f"{name}.py imports {sorted(upward)}, which sit above it"


def test_the_sinks_and_data_shapes_load_without_the_engine() -> None:
    code = (
        "import sys; import image_downloader.storage, image_downloader.model; "
        "print(sorted(m for m in sys.modules if m in "
        "('image_downloader.engine', 'image_downloader.fetch', 'image_downloader.body')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PACKAGE.parent), "PATH": ""},
    )
    assert done.stdout.strip() == "[]"


def test_no_file_is_over_300_lines_and_the_engine_is_under_200() -> None:
    lengths = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in lengths.items() if n > 300} == {}
    assert lengths["engine"] < 200


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "engine",
            "SPOOL_MEMORY_BYTES BatchOutcome BoundedRetry Deadline DownloadedImage Failure RetryPolicy Sink "
            "StorageError download_all",
        ),
        (
            "batch",
            "MAX_LISTED_ERRORS BatchSettings ReadReference handler parse_request parse_rerun write_batches",
        ),
        ("download", "BatchRequest download_batch handler"),
    ],
)
def test_the_public_names_stay_where_callers_import_them(module: str, names: str) -> None:
    loaded = importlib.import_module(f"image_downloader.{module}")
    missing = [name for name in names.split() if not hasattr(loaded, name)]
    assert missing == []
