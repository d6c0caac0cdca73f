"""The library as the API serves it: views of the read model's rows, chapter content with its
images pointing at the API, and files with their names.

Visibility is the read model's (projections.library): what the caller may not see is a 404,
the same answer as for what does not exist.
"""

from __future__ import annotations

import html
import re
from typing import Annotated, Generic, TypeVar
from urllib.parse import quote

import msgspec
from litestar.exceptions import NotFoundException
from litestar.params import Parameter, ParameterKwarg

from engine.artifacts.formats import FORMATS
from engine.domain.ids import JOB_ID_PATTERN
from engine.jetstream.library import Blob, LibraryStore, cover_object
from projections.library import ArtifactRow, ChapterImage, ChapterRow, ImageRow, NovelRow

T = TypeVar("T")
LIBRARY_ID_PATTERN = "^[0-9a-f]{16}$"
BINARY = "application/octet-stream"
# What the file routes answer with (and the OpenAPI document says): an image's own type when
# it is an image type, an artifact's when it is one of the formats', else BINARY.
IMAGE_TYPES = ("image/*", BINARY)
ARTIFACT_TYPES = tuple(sorted({f.media_type.split(";")[0] for f in FORMATS.values()} | {BINARY}))


def _library_id(what: str) -> ParameterKwarg:
    kwarg: ParameterKwarg = Parameter(
        pattern=LIBRARY_ID_PATTERN, min_length=16, max_length=16,
        description=f"{what} id: 16 lower-case hex digits.",
    )  # fmt: skip
    return kwarg


NovelIdPath = Annotated[str, _library_id("A novel")]
ChapterIdPath = Annotated[str, _library_id("A chapter")]
ImageIdPath = Annotated[str, _library_id("An image")]
ArtifactIdPath = Annotated[
    str,
    Parameter(
        pattern=JOB_ID_PATTERN, min_length=26, max_length=26,
        description="An artifact id: the id of the ARTIFACT job that made it (a ULID).",
    ),
]  # fmt: skip


class LibraryPage(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """A page of a longer list; `has_more` while items follow this page."""

    total: int
    offset: int
    limit: int
    has_more: bool
    items: list[T]


def page_of(total: int, offset: int, limit: int, items: list[T]) -> LibraryPage[T]:
    more = offset + len(items) < total
    return LibraryPage(total=total, offset=offset, limit=limit, has_more=more, items=items)


class NovelItem(msgspec.Struct, frozen=True, kw_only=True):
    """A novel in the library's list; `cover` is an image id (`GET /api/image/{id}`)."""

    id: str
    title: str
    url: str
    source: str
    authors: list[str]
    cover: str | None
    volume_count: int
    chapter_count: int
    updated_at: int

    @classmethod
    def of(cls, n: NovelRow) -> NovelItem:
        return cls(
            id=n.id, title=n.title, url=n.url, source=n.source, authors=n.authors,
            cover=n.cover_image_id, volume_count=n.volume_count, chapter_count=n.chapter_count,
            updated_at=n.updated_at,
        )  # fmt: skip


class VolumeItem(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    serial: int
    title: str
    chapter_count: int


class ArtifactItem(msgspec.Struct, frozen=True, kw_only=True):
    """An e-book of the novel the caller made; download it at `/api/artifact/{id}/download`."""

    id: str
    format: str
    file_name: str
    bytes: int
    created_at: int


class NovelView(msgspec.Struct, frozen=True, kw_only=True):
    """A novel: metadata, volumes in reading order, and the caller's artifacts, newest first."""

    id: str
    title: str
    url: str
    source: str
    authors: list[str]
    synopsis: str
    tags: list[str]
    cover: str | None
    volumes: list[VolumeItem]
    chapter_count: int
    artifacts: list[ArtifactItem]


class ChapterItem(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter of a novel's table of contents; `fetched` once its content is stored."""

    id: str
    volume_id: str | None
    serial: int
    title: str
    url: str
    fetched: bool

    @classmethod
    def of(cls, c: ChapterRow) -> ChapterItem:
        return cls(
            id=c.id, volume_id=c.volume_id, serial=c.serial, title=c.title, url=c.url,
            fetched=c.fetched,
        )  # fmt: skip


class ChapterView(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter and its content (XHTML; null until fetched). Images that are stored are
    shown from `/api/image/{id}`, the others from their original URL."""

    id: str
    novel_id: str
    volume_id: str | None
    serial: int
    title: str
    url: str
    fetched: bool
    content: str | None
    images: list[ChapterImage]


class ArtifactView(msgspec.Struct, frozen=True, kw_only=True):
    """An e-book file: made by the ARTIFACT job `job_id` (also its id)."""

    id: str
    novel_id: str
    job_id: str
    format: str
    file_name: str
    content_type: str
    bytes: int
    created_at: int
    download: str

    @classmethod
    def of(cls, a: ArtifactRow) -> ArtifactView:
        return cls(
            id=a.id, novel_id=a.novel_id, job_id=a.job_id, format=a.format,
            file_name=a.file_name, content_type=a.content_type, bytes=a.bytes,
            created_at=a.created_at, download=f"/api/artifact/{a.id}/download",
        )  # fmt: skip


def artifact_item(a: ArtifactRow) -> ArtifactItem:
    return ArtifactItem(
        id=a.id, format=a.format, file_name=a.file_name, bytes=a.bytes, created_at=a.created_at
    )


def found(row: T | None, noun: str, id_: str) -> T:
    """`row`, or the 404 for a `noun` the caller cannot see (or that does not exist)."""
    if row is None:
        raise NotFoundException(f"{noun} {id_} not found")
    return row


# The chapter cleaner writes every image as `<img src="..." alt="..."/>`, src absolute.
_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]*)(")')


def with_api_images(content: str, images: list[ChapterImage]) -> str:
    """`content` with the `src` of every stored image pointing at `/api/image/{id}`."""
    stored = {html.unescape(i.url): i.id for i in images if i.fetched}
    if not stored:
        return content

    def point(m: re.Match[str]) -> str:
        image_id = stored.get(html.unescape(m.group(2)))
        if image_id is None:
            return m.group(0)
        return f"{m.group(1)}/api/image/{image_id}{m.group(3)}"

    return _IMG_SRC.sub(point, content)


def image_type(stored: str) -> str:
    """The content type an image is served with: its own, if an image type."""
    return stored if stored.startswith("image/") else BINARY


def artifact_type(stored: str) -> str:
    """The content type an artifact is served with: its format's."""
    return stored if stored.split(";")[0] in ARTIFACT_TYPES else BINARY


async def image_file(store: LibraryStore, row: ImageRow) -> Blob | None:
    """The image's stored bytes and type: the novel's cover file for a cover; a chapter's
    image from LIBRARY or its file (`LibraryStore.get_image`)."""
    if row.cover:
        return await store.get_file(cover_object(row.novel_id))
    return await store.get_image(row.novel_id, row.id)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9 !#$&+,.;=@^_`{}~()'\[\]-]+")


def content_disposition(file_name: str) -> str:
    """`attachment` with `file_name`: as is when plain ASCII, else an ASCII stand-in and the
    exact name in RFC 5987's `filename*` (UTF-8, percent-encoded)."""
    if _PLAIN_NAME.fullmatch(file_name):
        return f'attachment; filename="{file_name}"'
    fallback = "".join(c if _PLAIN_NAME.fullmatch(c) else "_" for c in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"
