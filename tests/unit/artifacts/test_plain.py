"""json and txt: what each file holds, read back with the standard library."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from engine.artifacts.book import Book, BookChapter, BookVolume
from engine.artifacts.plain import book_text, write_json, write_txt
from tests.unit.artifacts.books import (
    AUTHORS,
    CHAPTERS_PER_VOLUME,
    GIF,
    TITLE,
    VOLUMES,
    chapter_html,
    marker,
    sample_book,
)


def test_json_holds_metadata_chapters_with_html_and_text_and_the_images(tmp_path: Path) -> None:
    book = sample_book()
    doc = json.loads(write_json(book, tmp_path / "b.json").read_text(encoding="utf-8"))
    assert (doc["version"], doc["title"], doc["authors"]) == (1, TITLE, AUTHORS)
    assert (doc["language"], doc["tags"]) == ("fr", ["fantaisie", "冒険"])
    assert doc["source_url"] == "https://novels.example/ca-ira"
    assert [len(v["chapters"]) for v in doc["volumes"]] == [CHAPTERS_PER_VOLUME] * VOLUMES
    second = doc["volumes"][1]["chapters"][2]
    assert second["html"] == chapter_html(2, 3)
    assert second["text"] == (
        f"Il était une fois, {marker(2, 3)} — «naïve» café, 東京タワー.\n\n"
        "Second paragraph\nwith a line break & an entity."
    )
    assert doc["volumes"][0]["chapters"][0]["images"] == ["map", "dot"]
    assert doc["images"]["dot"]["href"] == "images/dot.gif"
    assert base64.b64decode(doc["images"]["dot"]["data"]) == GIF
    assert book.cover is not None
    assert base64.b64decode(doc["cover"]["data"]) == book.cover.data
    assert doc["cover"]["href"] == "cover.png"


def test_txt_is_the_title_block_then_volumes_and_chapters_in_order(tmp_path: Path) -> None:
    text = write_txt(sample_book(), tmp_path / "b.txt").read_text(encoding="utf-8")
    assert text.startswith(f"{TITLE}\nby Zoë Ångström, 李小龙\nTags: fantaisie, 冒険\n")
    assert "Une histoire.\n\nDeuxième paragraphe, 日本語." in text
    positions = [text.index(marker(v, c)) for v in (1, 2, 3) for c in (1, 2, 3, 4)]
    assert positions == sorted(positions)
    assert text.index("Volume 2 — Tōhoku\n=================") < text.index(marker(2, 1))
    assert "Chapitre 3.4: Ærø\n-----------------\n\nIl était une fois" in text
    assert "Second paragraph\nwith a line break & an entity." in text
    assert "<" not in text.replace("<3", "")


def test_txt_of_a_bare_book_has_no_empty_blocks() -> None:
    chapter = BookChapter(title="", html="<p>only</p>")
    text = book_text(Book(title="T", volumes=[BookVolume(title="", chapters=[chapter])]))
    assert text == "T\n\nonly\n"
