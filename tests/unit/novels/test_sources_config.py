"""The operator's sources file: decoded strictly, every error one line naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.novels.sources.config import SourcesFileError, load_registry, read_sources_file
from engine.novels.sources.novelfull import NovelFullSource
from engine.novels.sources.selectors import SelectorsSource

TALES = {
    "name": "tales", "hosts": ["tales.example"], "title": "h1", "chapter_links": "ol a",
    "chapter_body": "article",
}  # fmt: skip


def _file(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "sources.json"
    text = document if isinstance(document, str) else json.dumps(document)
    path.write_text(text, encoding="utf-8")
    return path


def test_bindings_and_selectors_route_hosts(tmp_path: Path) -> None:
    path = _file(tmp_path, {
        "bindings": {"novelfull": ["readnovelfull.com", "127.0.0.1:8123"], "tales": ["t2.example"]},
        "selectors": [TALES],
    })  # fmt: skip
    registry = load_registry(path, plugins=[])
    assert isinstance(registry.for_url("https://www.readnovelfull.com/x.html"), NovelFullSource)
    assert isinstance(registry.for_url("http://127.0.0.1:8123/x.html"), NovelFullSource)
    for url in ("https://tales.example/n", "https://t2.example/n"):
        assert isinstance(registry.for_url(url), SelectorsSource)
    hosts = {info.name: info.hosts for info in registry.describe()}
    assert hosts["novelfull"] == ("127.0.0.1:8123", "readnovelfull.com")
    assert hosts["tales"] == ("t2.example", "tales.example")


def test_no_file_and_an_empty_document_bind_nothing(tmp_path: Path) -> None:
    for registry in (
        load_registry(None, plugins=[]),
        load_registry(_file(tmp_path, {}), plugins=[]),
    ):
        assert all(info.hosts == () for info in registry.describe())


@pytest.mark.parametrize(
    ("document", "field", "problem"),
    [
        ({"bindings": {"novelfull": ["a.test", 7]}}, "bindings.novelfull[1]", "Expected `str`"),
        ({"bindings": {"novelfull": ["a b.test"]}}, "bindings.novelfull[0]", "valid host"),
        ({"bindings": {"nope": ["a.test"]}}, "bindings.nope", "no source is named 'nope'"),
        ({"binding": {}}, "binding", "unknown field"),
        ({"selectors": [{**TALES, "title": "h1[["}]}, "selectors[0].title", "CSS selector"),
        ({"selectors": [{"name": "x"}]}, "selectors[0].title", "missing required field"),
        ({"selectors": [{**TALES, "hosts": ["a..b"]}]}, "selectors[0].hosts[0]", "host"),
        ({"selectors": {}}, "selectors", "Expected `array`"),
        ([], None, "Expected `object`"),
        ("{not json", None, "not valid JSON"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_field(
    tmp_path: Path, document: Any, field: str | None, problem: str
) -> None:
    path = _file(tmp_path, document)
    with pytest.raises(SourcesFileError) as caught:
        load_registry(path, plugins=[])
    message = str(caught.value)
    assert caught.value.field == field
    assert "\n" not in message and message.startswith(f"sources file {path}")
    assert (f"{path}: {field}: " if field else f"{path}: ") in message
    assert problem in message


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourcesFileError, match="cannot be read"):
        read_sources_file(tmp_path / "absent.json")
