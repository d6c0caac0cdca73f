"""check_book refuses what a builder could not build, naming the field; accepts the rest."""

from __future__ import annotations

import msgspec
import pytest

from engine.artifacts.book import (
    Book,
    BookChapter,
    BookVolume,
    Image,
    book_identifier,
    check_book,
    image_href,
)
from engine.artifacts.errors import InvalidBook
from tests.unit.artifacts.books import GIF, png, sample_book

replace = msgspec.structs.replace
PNG = png(2, 2, (0, 0, 0))


def one_chapter(**changes: object) -> Book:
    book = Book(
        title="T",
        volumes=[BookVolume(title="V", chapters=[BookChapter(title="C", html="<p>x</p>")])],
    )
    return replace(book, **changes)


def test_the_sample_book_is_valid() -> None:
    check_book(sample_book())


@pytest.mark.parametrize(
    ("book", "field"),
    [
        (one_chapter(title="  "), "title"),
        (one_chapter(language="english!"), "language"),
        (one_chapter(language=""), "language"),
        (one_chapter(volumes=[]), "volumes"),
        (one_chapter(volumes=[BookVolume(title="empty")]), "volumes"),
        (one_chapter(images={"../x": Image(media_type="image/png", data=PNG)}), "images"),
        (
            one_chapter(images={"a": Image(media_type="image/webp", data=PNG)}),
            "images.a.media_type",
        ),
        (one_chapter(images={"a": Image(media_type="image/png", data=GIF)}), "images.a.data"),
        (one_chapter(cover=Image(media_type="image/jpeg", data=PNG)), "cover.data"),
        (one_chapter(cover=Image(media_type="text/html", data=b"<p>")), "cover.media_type"),
    ],
)
def test_invalid_books_name_the_field(book: Book, field: str) -> None:
    with pytest.raises(InvalidBook) as caught:
        check_book(book)
    assert caught.value.field == field


def test_a_chapter_showing_an_image_the_book_lacks_is_named_by_position() -> None:
    chapters = [
        BookChapter(title="a", html=""),
        BookChapter(title="b", html="", images=["gone"]),
    ]
    book = one_chapter(volumes=[BookVolume(title="1"), BookVolume(title="2", chapters=chapters)])
    with pytest.raises(InvalidBook, match="gone") as caught:
        check_book(book)
    assert caught.value.field == "volumes[1].chapters[1].images"


def test_language_tags_with_regions_and_scripts_are_valid() -> None:
    for tag in ("en", "pt-BR", "zh-Hant-TW", "fil"):
        check_book(one_chapter(language=tag))


def test_image_href_follows_the_media_type() -> None:
    assert image_href("map", Image(media_type="image/png", data=PNG)) == "images/map.png"
    assert image_href("d-1", Image(media_type="image/gif", data=GIF)) == "images/d-1.gif"
    jpeg = Image(media_type="image/jpeg", data=b"\xff\xd8\xff\xe0")
    assert image_href("c", jpeg) == "images/c.jpg"


def test_the_identifier_is_stable_and_follows_the_source() -> None:
    a = one_chapter(source_url="https://x.example/1")
    assert book_identifier(a) == book_identifier(replace(a, title="other title"))
    assert book_identifier(a) != book_identifier(replace(a, source_url="https://x.example/2"))
    assert book_identifier(a).startswith("urn:uuid:")
