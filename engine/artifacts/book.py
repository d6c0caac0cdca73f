"""The builders' input: a book with its volumes, chapters and images, and its validation.

Chapter HTML refers to the book's images by a stable name, ``images/<id>.<ext>``
(:func:`image_href`), where ``<ext>`` follows the image's media type. Every builder resolves
that name itself: the epub stores the image under it, json embeds the image beside it, and
txt and tcr leave images out.
"""

from __future__ import annotations

import re
import uuid

import msgspec

from engine.artifacts.errors import InvalidBook

# The media types every reader of every format handles, with the file extension each gets and
# the leading bytes its data must start with (so a mislabelled image is refused here, not by
# epubcheck or Calibre later).
IMAGE_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "image/jpeg": ("jpg", (b"\xff\xd8\xff",)),
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/gif": ("gif", (b"GIF87a", b"GIF89a")),
}

_IMAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


class Image(msgspec.Struct, frozen=True, kw_only=True):
    """An image's bytes and media type (one of :data:`IMAGE_TYPES`)."""

    media_type: str
    data: bytes


class BookChapter(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter: its title, its body as an HTML fragment, and the ids of the book's images
    that the body shows (as ``<img src="images/<id>.<ext>">``)."""

    title: str
    html: str
    images: list[str] = []


class BookVolume(msgspec.Struct, frozen=True, kw_only=True):
    """A volume: a title and its chapters in reading order."""

    title: str
    chapters: list[BookChapter] = []


class Book(msgspec.Struct, frozen=True, kw_only=True):
    """A novel ready to be built. `language` is a BCP 47 tag (``en``, ``pt-BR``); `synopsis`
    is plain text, paragraphs separated by blank lines; `images` maps image ids (letters,
    digits, ``-`` and ``_``, at most 64) to images."""

    title: str
    authors: list[str] = []
    language: str = "en"
    synopsis: str = ""
    tags: list[str] = []
    source_url: str = ""
    cover: Image | None = None
    volumes: list[BookVolume] = []
    images: dict[str, Image] = {}


def image_extension(image: Image) -> str:
    """The file extension of `image`'s media type (``jpg``, ``png``, ``gif``)."""
    return IMAGE_TYPES[image.media_type][0]


def image_href(image_id: str, image: Image) -> str:
    """The stable name chapter HTML uses for the image: ``images/<id>.<ext>``."""
    return f"images/{image_id}.{image_extension(image)}"


def book_identifier(book: Book) -> str:
    """A stable identifier for the book: a name-based UUID of its source URL (its title when
    it has none), so rebuilding the same book yields the same identifier."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, book.source_url or book.title)}"


def check_book(book: Book) -> None:
    """Raise :class:`InvalidBook`, naming the field, unless every builder can build `book`:
    a title, a well-formed language tag, at least one chapter, images of a supported media
    type whose bytes match it, and chapters that only name images the book has."""
    if not book.title.strip():
        raise InvalidBook("the book has no title", field="title")
    if not _LANGUAGE.fullmatch(book.language):
        raise InvalidBook(f"{book.language!r} is not a language tag", field="language")
    if book.cover is not None:
        _check_image(book.cover, "cover")
    for image_id, image in book.images.items():
        if not _IMAGE_ID.fullmatch(image_id):
            raise InvalidBook(f"{image_id!r} is not a valid image id", field="images")
        _check_image(image, f"images.{image_id}")
    _check_volumes(book)


def _check_image(image: Image, field: str) -> None:
    if image.media_type not in IMAGE_TYPES:
        supported = ", ".join(IMAGE_TYPES)
        raise InvalidBook(
            f"{image.media_type!r} is not a supported image type ({supported})",
            field=f"{field}.media_type",
        )
    if not image.data.startswith(IMAGE_TYPES[image.media_type][1]):
        raise InvalidBook(f"the data is not {image.media_type}", field=f"{field}.data")


def _check_volumes(book: Book) -> None:
    if not any(volume.chapters for volume in book.volumes):
        raise InvalidBook("the book has no chapters", field="volumes")
    for v, volume in enumerate(book.volumes):
        for c, chapter in enumerate(volume.chapters):
            missing = [image_id for image_id in chapter.images if image_id not in book.images]
            if missing:
                raise InvalidBook(
                    f"the chapter shows images the book does not have: {', '.join(missing)}",
                    field=f"volumes[{v}].chapters[{c}].images",
                )
