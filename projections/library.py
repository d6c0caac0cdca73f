"""Reads of the library: novels, their volumes, chapters and images, and artifacts.

The tables are folded from the log by `projections.library_apply`. Who sees what: a user sees
a novel, and its volumes, chapters and images, once a NOVEL or FULL_NOVEL job of theirs parsed
it (a `novel_access` row); an artifact is its maker's (the user whose ARTIFACT job stored it).
`viewer` None is an admin, who sees everything. What a viewer may not see reads as absent
(None), like what does not exist. Deleting a job hides the job, not what it put in the
library; purging it removes its facts (see `projections.library_apply`).

As in `projections.queries`, every read is one `execute_fetchall`.
"""

from __future__ import annotations

from typing import Any

import aiosqlite
import msgspec

from projections.queries import _counted_page

_decode_list = msgspec.json.Decoder(list[Any]).decode


class NovelRow(msgspec.Struct, frozen=True, kw_only=True):
    """A novel as its newest parse described it; `toc_job_id` is the job whose log holds its
    table of contents, `cover_image_id` the stored cover (None until one is stored)."""

    id: str
    url: str
    source: str
    title: str
    authors: list[str]
    synopsis: str
    tags: list[str]
    cover_image_id: str | None
    toc_job_id: str
    volume_count: int
    chapter_count: int
    created_at: int
    updated_at: int


class ChapterImage(msgspec.Struct, frozen=True, kw_only=True):
    """An image a chapter shows, and whether its file is stored."""

    id: str
    url: str
    fetched: bool


class ChapterRow(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter; `volume_id` is None (and `serial` 0) for one stored but never listed.
    `images` is filled by `get_chapter` only."""

    id: str
    novel_id: str
    volume_id: str | None
    serial: int
    title: str
    url: str
    fetched: bool
    bytes: int
    images: list[ChapterImage] = []


class VolumeRow(msgspec.Struct, frozen=True, kw_only=True):
    """A volume and its chapters in reading order."""

    id: str
    novel_id: str
    serial: int
    title: str
    chapter_count: int
    chapters: list[ChapterRow] = []


class ImageRow(msgspec.Struct, frozen=True, kw_only=True):
    """An image: a chapter's, or the novel's cover (`cover`: its file is the novel's cover
    object, not an image object)."""

    id: str
    novel_id: str
    chapter_id: str | None
    url: str
    fetched: bool
    content_type: str
    bytes: int
    error: str | None
    cover: bool


class ArtifactRow(msgspec.Struct, frozen=True, kw_only=True):
    """An e-book file an ARTIFACT job stored; its id is the job's."""

    id: str
    novel_id: str
    job_id: str
    user_id: str
    format: str
    file_name: str
    content_type: str
    bytes: int
    created_at: int


def _sees(viewer: str | None, novel_column: str) -> tuple[str, list[Any]]:
    """A condition: `viewer` may see the novel `novel_column` names."""
    if viewer is None:
        return "1", []
    sql = (
        f"EXISTS (SELECT 1 FROM novel_access a WHERE a.novel_id = {novel_column} AND a.user_id = ?)"
    )
    return sql, [viewer]


_NOVEL = (
    "id, url, source, title, authors, synopsis, tags, cover_image_id, toc_job_id, "
    "volume_count, chapter_count, created_at, updated_at"
)


def _novel(r: Any) -> NovelRow:
    return NovelRow(
        id=r[0], url=r[1], source=r[2], title=r[3], authors=_decode_list(r[4]), synopsis=r[5],
        tags=_decode_list(r[6]), cover_image_id=r[7], toc_job_id=r[8], volume_count=r[9],
        chapter_count=r[10], created_at=r[11], updated_at=r[12],
    )  # fmt: skip


async def get_novel(db: aiosqlite.Connection, novel_id: str, viewer: str | None) -> NovelRow | None:
    sees, args = _sees(viewer, "novels.id")
    sql = f"SELECT {_NOVEL} FROM novels WHERE id = ? AND {sees}"
    rows = list(await db.execute_fetchall(sql, [novel_id, *args]))
    return _novel(rows[0]) if rows else None


def _like(q: str) -> str:
    """`q` as a LIKE pattern matching it anywhere, its own `%`, `_` and `\\` taken literally."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_novels(
    db: aiosqlite.Connection, viewer: str | None, q: str | None, offset: int, limit: int
) -> tuple[int, list[NovelRow]]:
    """The novels `viewer` sees, by title (case-insensitive for ASCII), and how many in all;
    with `q`, those whose title contains it (ASCII case-insensitive)."""
    where, args = _sees(viewer, "novels.id")
    if q:
        where += " AND title LIKE ? ESCAPE '\\'"
        args = [*args, _like(q)]
    order = "title COLLATE NOCASE, id"
    total, rows = await _counted_page(db, "novels", _NOVEL, where, args, order, limit, offset)
    return total, [_novel(r) for r in rows]


_CHAPTER = "id, novel_id, volume_id, serial, title, url, fetched, bytes"


def _chapter(r: Any, images: list[ChapterImage] | None = None) -> ChapterRow:
    return ChapterRow(
        id=r[0], novel_id=r[1], volume_id=r[2], serial=r[3], title=r[4], url=r[5],
        fetched=bool(r[6]), bytes=r[7], images=images or [],
    )  # fmt: skip


async def novel_chapters(
    db: aiosqlite.Connection, novel_id: str, offset: int, limit: int
) -> tuple[int, list[ChapterRow]]:
    """The chapters of the novel's table of contents in reading order, and how many in all
    (the caller checked the viewer may see the novel)."""
    total, rows = await _counted_page(
        db, "chapters", _CHAPTER, "novel_id = ? AND in_toc = 1", [novel_id], "serial, id",
        limit, offset,
    )  # fmt: skip
    return total, [_chapter(r) for r in rows]


async def get_volume(
    db: aiosqlite.Connection, volume_id: str, viewer: str | None
) -> VolumeRow | None:
    """The volume with its listed chapters in reading order."""
    sees, args = _sees(viewer, "v.novel_id")
    sql = (
        f"SELECT v.id, v.novel_id, v.serial, v.title, v.chapter_count, {_prefixed('c.')} "
        "FROM volumes v LEFT JOIN chapters c "
        "ON c.novel_id = v.novel_id AND c.volume_id = v.id AND c.in_toc = 1 "
        f"WHERE v.id = ? AND {sees} ORDER BY c.serial, c.id"
    )
    rows = [tuple(r) for r in await db.execute_fetchall(sql, [volume_id, *args])]
    if not rows:
        return None
    v = rows[0]
    chapters = [_chapter(r[5:]) for r in rows if r[5] is not None]
    return VolumeRow(
        id=v[0], novel_id=v[1], serial=v[2], title=v[3], chapter_count=v[4], chapters=chapters
    )


def _prefixed(prefix: str) -> str:
    return ", ".join(prefix + c.strip() for c in _CHAPTER.split(","))


async def get_chapter(
    db: aiosqlite.Connection, chapter_id: str, viewer: str | None
) -> ChapterRow | None:
    """The chapter with the images it shows (in order). A chapter URL listed by two novels is
    two rows; the viewer gets one they may see."""
    sees, args = _sees(viewer, "c.novel_id")
    sql = (
        f"SELECT {_prefixed('c.')}, c.images, "
        "(SELECT json_group_array(i.id) FROM images i "
        " WHERE i.novel_id = c.novel_id AND i.fetched = 1 AND i.id IN "
        "  (SELECT value ->> 'id' FROM json_each(c.images))) "
        f"FROM chapters c WHERE c.id = ? AND {sees} ORDER BY c.novel_id LIMIT 1"
    )
    rows = list(await db.execute_fetchall(sql, [chapter_id, *args]))
    if not rows:
        return None
    r = tuple(rows[0])
    fetched = set(_decode_list(r[9]))
    images = [
        ChapterImage(id=i["id"], url=i["url"], fetched=i["id"] in fetched)
        for i in _decode_list(r[8])
    ]
    return _chapter(r, images)


_IMAGE = "id, novel_id, chapter_id, url, fetched, content_type, bytes, error, cover"


async def get_image(db: aiosqlite.Connection, image_id: str, viewer: str | None) -> ImageRow | None:
    """The image; one stored image first when several novels show the same URL."""
    sees, args = _sees(viewer, "images.novel_id")
    sql = (
        f"SELECT {_IMAGE} FROM images WHERE id = ? AND {sees} "
        "ORDER BY fetched DESC, novel_id LIMIT 1"
    )
    rows = list(await db.execute_fetchall(sql, [image_id, *args]))
    if not rows:
        return None
    r = rows[0]
    return ImageRow(
        id=r[0], novel_id=r[1], chapter_id=r[2], url=r[3], fetched=bool(r[4]),
        content_type=r[5], bytes=r[6], error=r[7], cover=bool(r[8]),
    )  # fmt: skip


_ARTIFACT = "id, novel_id, job_id, user_id, format, file_name, content_type, bytes, created_at"


def _artifact(r: Any) -> ArtifactRow:
    return ArtifactRow(**dict(zip(ArtifactRow.__struct_fields__, r, strict=True)))


async def get_artifact(
    db: aiosqlite.Connection, artifact_id: str, viewer: str | None
) -> ArtifactRow | None:
    """The artifact, if `viewer` made it (or is an admin)."""
    sql = f"SELECT {_ARTIFACT} FROM artifacts WHERE id = ? AND (? IS NULL OR user_id = ?)"
    rows = list(await db.execute_fetchall(sql, (artifact_id, viewer, viewer)))
    return _artifact(rows[0]) if rows else None


async def novel_artifacts(
    db: aiosqlite.Connection, novel_id: str, viewer: str | None
) -> list[ArtifactRow]:
    """The novel's artifacts `viewer` made (an admin: all), newest first."""
    sql = (
        f"SELECT {_ARTIFACT} FROM artifacts WHERE novel_id = ? AND (? IS NULL OR user_id = ?) "
        "ORDER BY created_at DESC, id DESC"
    )
    return [_artifact(r) for r in await db.execute_fetchall(sql, (novel_id, viewer, viewer))]


async def novel_volumes(db: aiosqlite.Connection, novel_id: str) -> list[VolumeRow]:
    """The novel's volumes in reading order, without their chapters (the caller checked the
    viewer may see the novel)."""
    sql = "SELECT id, novel_id, serial, title, chapter_count FROM volumes WHERE novel_id = ? "
    rows = await db.execute_fetchall(sql + "ORDER BY serial", (novel_id,))
    return [
        VolumeRow(id=r[0], novel_id=r[1], serial=r[2], title=r[3], chapter_count=r[4]) for r in rows
    ]


async def latest_toc_job(db: aiosqlite.Connection, novel_id: str) -> str | None:
    """The job whose `chapters_listed` events are the novel's current table of contents."""
    rows = list(
        await db.execute_fetchall("SELECT toc_job_id FROM novels WHERE id = ?", (novel_id,))
    )
    return str(rows[0][0]) if rows else None


LIBRARY_TABLES = (
    ("library_facts", "seq"),
    ("novels", "id"),
    ("novel_access", "novel_id, user_id"),
    ("volumes", "id"),
    ("chapters", "novel_id, id"),
    ("images", "novel_id, id"),
    ("artifacts", "id"),
)


async def library_dump(db: aiosqlite.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the library tables, ordered: for rebuild-equals-live checks."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table, key in LIBRARY_TABLES:
        rows = await db.execute_fetchall(f"SELECT * FROM {table} ORDER BY {key}")
        out[table] = [tuple(r) for r in rows]
    return out
