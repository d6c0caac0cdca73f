"""The sample book (3 volumes, 12 chapters, a cover, 2 images, non-ASCII text) built into
every one of the 14 formats, each read back by Calibre (json by the json module), and its
epub passes epubcheck. The epub is built once; conversions run two at a time."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from engine.artifacts import formats
from engine.domain.model import ALL_FORMATS
from tests.integration.artifacts.tools import (
    assert_valid_epub,
    has_cjk_font,
    needs_calibre,
    needs_epubcheck,
    read_back,
)
from tests.unit.artifacts.books import CHAPTERS_PER_VOLUME, VOLUMES, marker, sample_book

pytestmark = needs_calibre

CONVERTED = [f for f in ALL_FORMATS if formats.FORMATS[f].made_by == "calibre"]
NATIVE = [f for f in ALL_FORMATS if formats.FORMATS[f].made_by == "native"]
MARKERS = [marker(v, c) for v in range(1, VOLUMES + 1) for c in range(1, CHAPTERS_PER_VOLUME + 1)]


class Built:
    """The files of every format and the seconds each took to build."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, Path] = {}
        self.seconds: dict[str, float] = {}


async def _build_all(directory: Path) -> Built:
    built, book = Built(directory), sample_book()
    for fmt in NATIVE:
        start = time.perf_counter()
        built.files[fmt] = await formats.build(book, fmt, directory)
        built.seconds[fmt] = time.perf_counter() - start
    slots = asyncio.Semaphore(2)

    async def convert(fmt: str) -> None:
        async with slots:
            start = time.perf_counter()
            built.files[fmt] = await formats.build(book, fmt, directory, epub=built.files["epub"])
            built.seconds[fmt] = time.perf_counter() - start

    await asyncio.gather(*(convert(fmt) for fmt in CONVERTED))
    return built


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return asyncio.run(_build_all(tmp_path_factory.mktemp("books")))


def test_every_format_is_one_file_named_after_the_book(built: Built) -> None:
    assert sorted(built.files) == sorted(ALL_FORMATS)
    names = sorted(p.name for p in built.directory.iterdir())
    assert names == sorted(f"Ça_ira_東京の夜_Grüße.{fmt}" for fmt in ALL_FORMATS)


@needs_epubcheck
def test_the_epub_passes_epubcheck(built: Built) -> None:
    assert_valid_epub(built.files["epub"])


@pytest.mark.parametrize("fmt", [f for f in ALL_FORMATS if f != "json"])
def test_calibre_reads_every_chapter_back(built: Built, fmt: str, tmp_path: Path) -> None:
    text = read_back(built.files[fmt], tmp_path)
    assert [m for m in MARKERS if m not in text] == []
    assert "«naïve» café" in text
    if fmt != "pdf" or has_cjk_font():  # without a CJK font, PDF output cannot draw 東京
        assert "東京タワー" in text


def test_json_reads_back_with_every_chapter(built: Built) -> None:
    doc = json.loads(built.files["json"].read_bytes())
    texts = " ".join(c["text"] for v in doc["volumes"] for c in v["chapters"])
    assert [m for m in MARKERS if m not in texts] == []
