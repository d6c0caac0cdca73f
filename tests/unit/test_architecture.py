"""The folders are the architecture: engine <- projections <- streams <- api <- cli."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["engine", "projections", "streams", "api", "cli"]


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


def _engine_imports(path: Path) -> set[str]:
    """The `engine.*` modules `path` imports (absolute imports only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("engine."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.update(m for m in [node.module or ""] if m.startswith("engine."))
    return found


def _offenders(folder: str, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        bad = sorted(m for m in _engine_imports(path) if not m.startswith(allowed))
        if bad:
            out[str(path.relative_to(ROOT))] = bad
    return out


def test_engine_crawl_uses_only_itself_and_the_net_rules() -> None:
    assert _offenders("engine/crawl", ("engine.crawl", "engine.net")) == {}


def test_engine_net_is_a_leaf() -> None:
    assert _offenders("engine/net", ("engine.net",)) == {}


def test_engine_domain_is_pure() -> None:
    """The core imports only the standard library, msgspec, ulid and itself."""
    allowed_third_party = {"msgspec", "ulid"}
    for path in (ROOT / "engine" / "domain").rglob("*.py"):
        for name in _imports(path) - allowed_third_party:
            if name == "engine":
                continue
            assert name in sys.stdlib_module_names, f"{path}: imports {name}"
    assert _offenders("engine/domain", ("engine.domain",)) == {}


def test_engine_jetstream_does_not_import_the_processes() -> None:
    """The NATS plumbing sits below what runs: no dispatcher, worker, handlers or service."""
    allowed = ("engine.jetstream", "engine.domain", "engine.net")
    assert _offenders("engine/jetstream", allowed) == {}


def test_nothing_imports_tests_or_bench() -> None:
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            assert not _imports(path) & {"tests", "bench"}, path
