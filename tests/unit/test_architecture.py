"""The folders are the architecture: engine <- projections <- streams <- api."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["engine", "projections", "streams", "api"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_down_only(layer: str) -> None:
    higher = set(LAYERS[LAYERS.index(layer) + 1 :])
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & higher)
        for path in (ROOT / layer).rglob("*.py")
        if _imports(path) & higher
    }
    assert offenders == {}


def test_engine_crawl_is_a_leaf() -> None:
    for path in (ROOT / "engine" / "crawl").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("engine")
            ):
                assert node.module.startswith("engine.crawl"), f"{path}: {node.module}"


def test_nothing_imports_tests_or_bench() -> None:
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            assert not _imports(path) & {"tests", "bench"}, path
