"""The format table and `build` for the native formats (no Calibre needed)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec
import pytest

from engine.artifacts import calibre
from engine.artifacts.errors import BuildCanceled, BuildFailed, InvalidBook, UnknownFormat
from engine.artifacts.formats import FORMATS, build, can_make, file_stem, format_of
from engine.domain.model import ALL_FORMATS
from tests.unit.artifacts.books import marker, sample_book


def test_one_row_per_format_of_the_model() -> None:
    assert sorted(FORMATS) == sorted(ALL_FORMATS)
    assert {f.name for f in FORMATS.values() if f.made_by == "native"} == {
        "epub",
        "json",
        "txt",
        "tcr",
    }
    assert all(f.extension == f.name for f in FORMATS.values())
    assert format_of("epub").media_type == "application/epub+zip"
    assert format_of("pdf").media_type == "application/pdf"


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(UnknownFormat, match="'odt'"):
        format_of("odt")
    assert not can_make("odt")


def test_native_formats_can_always_be_made_and_calibre_ones_with_calibre() -> None:
    assert all(can_make(name) for name in ("epub", "json", "txt", "tcr"))
    assert can_make("pdf") == calibre.available()
    assert not calibre.available("no-such-ebook-convert")


@pytest.mark.parametrize(
    ("title", "stem"),
    [
        ("Ça ira — 東京の夜", "Ça_ira_東京の夜"),
        ("../../etc/passwd", "etc_passwd"),
        ("***", "book"),
        ("a" * 200, "a" * 80),
    ],
)
def test_file_stems_keep_words_only(title: str, stem: str) -> None:
    assert file_stem(title) == stem


@pytest.mark.parametrize("fmt", ["epub", "json", "txt", "tcr"])
async def test_build_writes_the_named_file_and_nothing_else(tmp_path: Path, fmt: str) -> None:
    path = await build(sample_book(), fmt, tmp_path)
    assert path == tmp_path / f"Ça_ira_東京の夜_Grüße.{fmt}"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.stat().st_size > 0


async def test_build_json_holds_the_chapters(tmp_path: Path) -> None:
    doc = json.loads((await build(sample_book(), "json", tmp_path)).read_bytes())
    assert marker(3, 4) in doc["volumes"][2]["chapters"][3]["text"]


async def test_an_invalid_book_writes_nothing(tmp_path: Path) -> None:
    book = msgspec.structs.replace(sample_book(), volumes=[])
    with pytest.raises(InvalidBook):
        await build(book, "epub", tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_a_build_canceled_before_it_starts_writes_nothing(tmp_path: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    with pytest.raises(BuildCanceled):
        await build(sample_book(), "txt", tmp_path, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


async def test_a_missing_directory_is_a_build_failure(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match="epub") as caught:
        await build(sample_book(), "epub", tmp_path / "missing")
    assert isinstance(caught.value.__cause__, OSError)


async def test_a_conversion_into_a_missing_directory_is_a_build_failure(tmp_path: Path) -> None:
    # Fails on the directory, before any converter runs: Calibre need not be installed.
    epub = await build(sample_book(), "epub", tmp_path)
    with pytest.raises(BuildFailed, match="pdf") as caught:
        await build(sample_book(), "pdf", tmp_path / "missing", epub=epub)
    assert isinstance(caught.value.__cause__, OSError)
