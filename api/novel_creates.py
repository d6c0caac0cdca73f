"""The jobs of lncrawl's novel creates, their params resolved when the job is made, so a
worker needs nothing but them (see engine/novels/handlers.py and chapters.py):

- fetch-novel: each URL's source, from the registry (by host, or the one named);
- fetch-volumes, fetch-chapters, fetch-images: library ids the caller may see, from the read
  model, into the chapters' and images' URLs and their novel's source.

Every refusal is a 422 naming the body's field, the offending item's index in the detail
(`volumes[2]: no volume ... in your library`). An id of something the caller may not see
reads as one of nothing, as everywhere in the library.
"""

from __future__ import annotations

import re
from typing import Any

import aiosqlite

from api.jobs import NewJob
from api.schemas import FetchNovelBody
from engine.domain.errors import InvalidCommand
from engine.domain.model import JobType
from engine.novels.errors import NovelError
from engine.novels.sources.registry import Registry
from projections.library import NovelRow, get_chapter, get_image, get_novel, get_volume

VOLUME_ID = re.compile(r"[0-9a-f]{16}-v[0-9]{1,5}")
ITEM_ID = re.compile(r"[0-9a-f]{16}")


def novel_job(sources: Registry, body: FetchNovelBody) -> NewJob:
    """NOVEL (FULL_NOVEL) for `url`, or a NOVEL_BATCH (FULL_NOVEL_BATCH) of `urls`, each
    novel's source resolved now: `source` in a single job's params, `sources` (by URL) in a
    batch's, which its children inherit."""
    if body.url is not None:
        kind = JobType.FULL_NOVEL if body.full else JobType.NOVEL
        source = _source_name(sources, body.url, body.source, "url")
        params = {"url": body.url, "full": body.full, "source": source}
        return NewJob(type=kind, params=params, title=body.url)
    urls = list(dict.fromkeys(body.urls or ()))
    by_url = {u: _source_name(sources, u, body.source, f"urls[{i}]") for i, u in enumerate(urls)}
    return NewJob(
        type=JobType.FULL_NOVEL_BATCH if body.full else JobType.NOVEL_BATCH,
        params={"urls": urls, "full": body.full, "sources": by_url},
        title=_count(len(urls), "novel"), total=len(urls),
    )  # fmt: skip


def _source_name(sources: Registry, url: str, name: str | None, at: str) -> str:
    """The name of the source that reads `url` (the one called `name` if given); 422
    naming `source` for an unknown name, else the URL's field (`at`: "url" or "urls[i]"),
    saying how to add a source for its host."""
    try:
        return sources.for_url(url, source=name).name
    except NovelError as e:
        field = "source" if name is not None else at.partition("[")[0]
        raise InvalidCommand(f"{at}: {e}", field=field) from e


class Library:
    """The caller's view of the library for one create: novels read once each."""

    def __init__(self, db: aiosqlite.Connection, viewer: str | None) -> None:
        self.db = db
        self.viewer = viewer
        self._novels: dict[str, NovelRow] = {}

    async def novel(self, novel_id: str, field: str, i: int) -> NovelRow:
        if novel_id not in self._novels:
            novel = await get_novel(self.db, novel_id, self.viewer)
            if novel is None:  # its item was visible: the novel is, unless just purged
                raise InvalidCommand(f"{field}[{i}]: its novel is not in your library", field=field)
            self._novels[novel_id] = novel
        return self._novels[novel_id]

    @property
    def only_novel(self) -> NovelRow | None:
        """The one novel read, if all items were of one."""
        return next(iter(self._novels.values())) if len(self._novels) == 1 else None


async def volumes_job(library: Library, ids: list[str], refresh: bool | None) -> NewJob:
    """VOLUME `{novel_id, volume_id, source, chapters, refresh}` for one id, else a
    VOLUME_BATCH of such objects (each with its title); progress counts chapters."""
    unique = _checked(ids, VOLUME_ID, "volumes", "a volume id")
    volumes = [await _volume(library, i, v, bool(refresh)) for i, v in unique]
    if len(volumes) == 1:
        (params,) = volumes
        title = params.pop("title")
        return NewJob(type=JobType.VOLUME, params=params, title=title,
                      total=max(1, len(params["chapters"])))  # fmt: skip
    return NewJob(
        type=JobType.VOLUME_BATCH, params={"volumes": volumes}, total=len(volumes),
        title=_titled(library, _count(len(volumes), "volume")),
    )  # fmt: skip


async def _volume(library: Library, i: int, volume_id: str, refresh: bool) -> dict[str, Any]:
    volume = await get_volume(library.db, volume_id, library.viewer)
    if volume is None:
        raise _missing("volumes", i, "volume", volume_id)
    novel = await library.novel(volume.novel_id, "volumes", i)
    chapters = [
        {"id": c.id, "url": c.url, "title": c.title, "serial": c.serial} for c in volume.chapters
    ]
    return {
        "novel_id": novel.id, "volume_id": volume.id, "source": novel.source,
        "chapters": chapters, "refresh": refresh,
        "title": f"{novel.title} · Volume {volume.serial}",
    }  # fmt: skip


async def chapters_job(library: Library, ids: list[str], refresh: bool | None) -> NewJob:
    """CHAPTER `{novel_id, source, chapters: [one], refresh}` for one id (refreshed unless
    `refresh` is false: it was asked for), else a CHAPTER_BATCH whose chapters name their
    novel and source (not refreshed unless `refresh`)."""
    unique = _checked(ids, ITEM_ID, "chapters", "a chapter id")
    items = [await _chapter(library, i, c) for i, c in unique]
    if len(items) == 1:
        (item,) = items
        novel_id, source, serial = item.pop("novel_id"), item.pop("source"), item["serial"]
        params = {"novel_id": novel_id, "source": source, "chapters": [item],
                  "refresh": refresh is not False}  # fmt: skip
        title = _titled(library, f"Chapter {serial}" if serial else item["title"])
        return NewJob(type=JobType.CHAPTER, params=params, title=title)
    return NewJob(
        type=JobType.CHAPTER_BATCH, params={"chapters": items, "refresh": bool(refresh)},
        title=_titled(library, _count(len(items), "chapter")), total=len(items),
    )  # fmt: skip


async def _chapter(library: Library, i: int, chapter_id: str) -> dict[str, Any]:
    chapter = await get_chapter(library.db, chapter_id, library.viewer)
    if chapter is None:
        raise _missing("chapters", i, "chapter", chapter_id)
    novel = await library.novel(chapter.novel_id, "chapters", i)
    return {
        "id": chapter.id, "url": chapter.url, "title": chapter.title, "serial": chapter.serial,
        "novel_id": novel.id, "source": novel.source,
    }  # fmt: skip


async def images_job(library: Library, ids: list[str], refresh: bool | None = None) -> NewJob:
    """IMAGE `{novel_id, images: [one], refresh}` for one id (refreshed unless `refresh` is
    false: it was asked for), else an IMAGE_BATCH whose images name their novel (not
    refreshed unless `refresh`: those already stored are restated). An image without a
    chapter is a novel's cover; each names the page showing it (`referer`: its chapter's
    URL, or the novel's for a cover)."""
    unique = _checked(ids, ITEM_ID, "images", "an image id")
    items = [await _image(library, i, image_id) for i, image_id in unique]
    if len(items) == 1:
        (item,) = items
        params = {"novel_id": item.pop("novel_id"), "images": [item],
                  "refresh": refresh is not False}  # fmt: skip
        return NewJob(type=JobType.IMAGE, params=params, title=_titled(library, "Image"))
    return NewJob(
        type=JobType.IMAGE_BATCH, params={"images": items, "refresh": bool(refresh)},
        title=_titled(library, _count(len(items), "image")), total=len(items),
    )  # fmt: skip


async def _image(library: Library, i: int, image_id: str) -> dict[str, Any]:
    image = await get_image(library.db, image_id, library.viewer)
    if image is None:
        raise _missing("images", i, "image", image_id)
    novel = await library.novel(image.novel_id, "images", i)
    chapter_id = None if image.cover else image.chapter_id
    chapter = (
        None if chapter_id is None else await get_chapter(library.db, chapter_id, library.viewer)
    )
    referer = novel.url if chapter is None else chapter.url
    return {"id": image.id, "url": image.url, "chapter_id": chapter_id,
            "novel_id": image.novel_id, "referer": referer}  # fmt: skip


def _checked(
    ids: list[str], pattern: re.Pattern[str], field: str, what: str
) -> list[tuple[int, str]]:
    """The first occurrence of each id with its index in the body, once each is `what` ("a
    volume id") in form; else a 422 naming `field` and the first that is not."""
    first: dict[str, int] = {}
    for i, value in enumerate(ids):
        if pattern.fullmatch(value) is None:
            raise InvalidCommand(f"{field}[{i}]: {value[:40]!r} is not {what}", field=field)
        first.setdefault(value, i)
    return [(i, value) for value, i in first.items()]


def _missing(field: str, i: int, noun: str, value: str) -> InvalidCommand:
    return InvalidCommand(f"{field}[{i}]: no {noun} {value!r} in your library", field=field)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _titled(library: Library, what: str) -> str:
    """`<novel title> · <what>` when the items are of one novel, else `what`."""
    novel = library.only_novel
    return f"{novel.title} · {what}" if novel is not None else what
