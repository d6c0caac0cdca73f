"""The json and txt builders: a book as one JSON document, and as one UTF-8 text file."""

from __future__ import annotations

from pathlib import Path

import msgspec

from engine.artifacts.book import (
    Book,
    BookVolume,
    Image,
    book_identifier,
    image_extension,
    image_href,
)
from engine.artifacts.markup import html_text

JSON_VERSION = 1


class JsonImage(msgspec.Struct, frozen=True, kw_only=True):
    """An image in the JSON document: the name chapter HTML uses for it, and its bytes
    (base64 in JSON)."""

    href: str
    media_type: str
    data: bytes


class JsonChapter(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter: `html` as the book has it, `text` as :func:`html_text` renders it."""

    title: str
    html: str
    text: str
    images: list[str]


class JsonVolume(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    chapters: list[JsonChapter]


class JsonBook(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON document: the book's metadata, its volumes and chapters in reading order,
    and every image keyed by id. `version` changes when a field's meaning does."""

    version: int = JSON_VERSION
    identifier: str
    title: str
    authors: list[str]
    language: str
    synopsis: str
    tags: list[str]
    source_url: str
    cover: JsonImage | None
    volumes: list[JsonVolume]
    images: dict[str, JsonImage]


def write_json(book: Book, path: Path) -> Path:
    """Write `book` as one JSON document (:class:`JsonBook`) to `path`."""
    path.write_bytes(msgspec.json.encode(json_book(book)))
    return path


def write_txt(book: Book, path: Path) -> Path:
    """Write `book` as UTF-8 text (:func:`book_text`) to `path`."""
    path.write_text(book_text(book), encoding="utf-8")
    return path


def json_book(book: Book) -> JsonBook:
    """`book` as the JSON document holds it."""
    cover = None
    if book.cover is not None:
        cover = _json_image(f"cover.{image_extension(book.cover)}", book.cover)
    return JsonBook(
        identifier=book_identifier(book),
        title=book.title,
        authors=book.authors,
        language=book.language,
        synopsis=book.synopsis,
        tags=book.tags,
        source_url=book.source_url,
        cover=cover,
        volumes=[_json_volume(volume) for volume in book.volumes],
        images={
            key: _json_image(image_href(key, image), image) for key, image in book.images.items()
        },
    )


def _json_volume(volume: BookVolume) -> JsonVolume:
    chapters = [
        JsonChapter(title=c.title, html=c.html, text=html_text(c.html), images=c.images)
        for c in volume.chapters
    ]
    return JsonVolume(title=volume.title, chapters=chapters)


def _json_image(href: str, image: Image) -> JsonImage:
    return JsonImage(href=href, media_type=image.media_type, data=image.data)


def book_text(book: Book) -> str:
    """The book as plain text: a title block (title, authors, tags, source, synopsis), then
    each volume's title underlined with ``=`` and each chapter's title underlined with ``-``,
    followed by the chapter's text; blocks separated by blank lines; images left out."""
    blocks = [*_title_block(book)]
    for volume in book.volumes:
        blocks.append(_underlined(volume.title, "="))
        for chapter in volume.chapters:
            blocks.append(_underlined(chapter.title, "-"))
            blocks.append(html_text(chapter.html))
    return "\n\n".join(block for block in blocks if block) + "\n"


def _title_block(book: Book) -> list[str]:
    lines = [book.title]
    if book.authors:
        lines.append("by " + ", ".join(book.authors))
    if book.tags:
        lines.append("Tags: " + ", ".join(book.tags))
    if book.source_url:
        lines.append("Source: " + book.source_url)
    return ["\n".join(lines), book.synopsis.strip()]


def _underlined(title: str, mark: str) -> str:
    title = " ".join(title.split())
    return f"{title}\n{mark * max(3, len(title))}" if title else ""
