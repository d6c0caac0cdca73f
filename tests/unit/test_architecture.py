"""The folders are the architecture: engine <- projections <- streams <- api <- cli.

The checks take the tree's root, so a test can run them on a planted tree and see them fail.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["engine", "projections", "streams", "api", "cli"]
PROJECT = {*LAYERS, "tests", "bench"}
# The terminal client speaks HTTP: it shares only the enums of the API's vocabulary.
CLIENT_MODULES = [
    "http", "live", "events", "live_state", "sse_client", "library", "jobs", "names", "completion",
]  # fmt: skip
CLIENT_MAY_IMPORT = ("cli", "engine.domain.model")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def upward_imports(root: Path, layer: str) -> dict[str, list[str]]:
    """The modules of `layer` under `root` that import a higher layer, and which ones."""
    higher = set(LAYERS[LAYERS.index(layer) + 1 :])
    return {
        str(path.relative_to(root)): sorted(_imports(path) & higher)
        for path in (root / layer).rglob("*.py")
        if _imports(path) & higher
    }


def _qualified_imports(root: Path, path: Path) -> set[str]:
    """Every name `path` imports, in full and absolute: `from a.b import c` gives `a.b.c`,
    `from . import c` in `cli/x.py` gives `cli.c`."""
    package = list(path.relative_to(root).parent.parts)
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.update(f"{module}.{alias.name}".lstrip(".") for alias in node.names)
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def client_offenders(root: Path) -> dict[str, list[str]]:
    """Project modules the terminal client imports beyond `cli` and `engine.domain.model`
    (the standard library and third-party packages are fine)."""
    out: dict[str, list[str]] = {}
    for name in CLIENT_MODULES:
        path = root / "cli" / f"{name}.py"
        bad = sorted(
            m for m in _qualified_imports(root, path)
            if m.split(".")[0] in PROJECT | {""}
            and not any(_within(m, allowed) for allowed in CLIENT_MAY_IMPORT)
        )  # fmt: skip
        if bad:
            out[str(path.relative_to(root))] = bad
    return out


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_down_only(layer: str) -> None:
    assert upward_imports(ROOT, layer) == {}


def test_the_terminal_client_imports_no_server_internals() -> None:
    assert client_offenders(ROOT) == {}


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


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_layer_check_fails_on_a_planted_upward_import(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "engine/__init__.py": "", "engine/core.py": "import os\nfrom api.app import create\n",
        "projections/__init__.py": "", "projections/q.py": "import engine.core\nimport cli.main\n",
        "api/__init__.py": "", "api/app.py": "from engine.core import x\nimport projections\n",
    })  # fmt: skip
    assert upward_imports(tmp_path, "engine") == {"engine/core.py": ["api"]}
    assert upward_imports(tmp_path, "projections") == {"projections/q.py": ["cli"]}
    assert upward_imports(tmp_path, "api") == {}


def test_the_client_check_fails_on_planted_server_imports(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "cli/http.py": "import aiohttp\nfrom api.settings import Settings\n",
        "cli/live_state.py": "from streams.list_feed import SNAPSHOT_LIMIT\n",
        "cli/events.py": "import json\nfrom engine.domain import errors, model\n",
        "cli/sse_client.py": "from .. import api\n",
        "cli/library.py": "from pathlib import Path\nfrom cli.http import Api\n",
        "cli/jobs.py": "from cli.live import Watcher\n",
        "cli/names.py": "from engine.domain.model import JobStatus\n",
        "cli/completion.py": "import argparse\n",
        "cli/live.py": (
            "import asyncio\nimport rich.live\nfrom cli.http import Api\nfrom . import events\n"
            "from engine.domain.model import JobStatus\nimport engine.domain.model\n"
        ),
    })  # fmt: skip
    assert client_offenders(tmp_path) == {
        "cli/http.py": ["api.settings.Settings"],
        "cli/live_state.py": ["streams.list_feed.SNAPSHOT_LIMIT"],
        "cli/events.py": ["engine.domain.errors"],
        "cli/sse_client.py": ["api"],
    }
