"""VOLUME, CHAPTER and IMAGE jobs: chapters and images fetched into the library.

VOLUME and CHAPTER take ``{novel_id, source, chapters: [{id, url, title, serial}],
refresh}`` (VOLUME also ``volume_id``; a chapter may name its own ``novel_id`` and
``source``, as a CHAPTER_BATCH's children do, whose chapters may come from several novels).
A chapter is left alone when this job already recorded it (an earlier run of the job: its
`page` event is in the log, ok or failed; a retry clears the failed ones) and, unless
``refresh``, when the library already holds its body: then only its `chapter_stored` fact is
recorded again (from the stored body), so that the job's log names every chapter of it the
library holds, also after a crash between storing a body and recording it. Every other
chapter is fetched through the gate (in reading order among its novel's requests), parsed and
cleaned by its source, its images fetched (a failed image does not fail the chapter; a
large one is stored as a file then), and then the chapter is stored with its small images and
recorded with others in one `chapters_stored` (its fact, its OK page and its images' facts;
see :mod:`engine.novels.stored` and :mod:`engine.novels.images`).
A chapter that fails gets a failed `page` event. Progress counts chapters: fetched ones done
or failed, stored ones skipped.

IMAGE takes ``{novel_id, images: [{id, url, chapter_id}]}`` (an image may name its own
``novel_id``) and stores each image, recording its `page` and `image_stored`; an image
without a ``chapter_id`` is the novel's cover.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence

import msgspec
from selectolax.lexbor import LexborHTMLParser

from engine.crawl.errors import CrawlError
from engine.crawl.extract import decode_html
from engine.crawl.fetcher import FetchResult
from engine.crawl.models import PageOutcome
from engine.crawl.pages import failed_page
from engine.domain.errors import InvalidCommand
from engine.domain.events import ChapterStored, ImageInfo, StoredChapter, StoredImage
from engine.domain.model import JobType
from engine.jetstream.atomic import Message
from engine.jetstream.library import Chapter, item_token
from engine.novels.common import each
from engine.novels.errors import NovelError
from engine.novels.handlers import (
    NovelJobFailed,
    NovelRun,
    Stopped,
    envelope,
    failure,
    gated_fetch,
    msg_id,
    outcome,
    params_of,
    source_of,
    store_image,
)
from engine.novels.images import Room, keep_chapter_image
from engine.novels.model import url_id
from engine.novels.sources.base import Source
from engine.novels.stored import ChapterGroups

CHAPTER_SLOTS = 4  # chapters of one job in progress at once (the gate bounds each host)
IMAGE_SLOTS = 4  # images of one chapter fetched at once
MAX_IMAGES = 200  # images of one chapter fetched at most; the rest are left out
THREAD_PARSE_BYTES = 256 * 1024  # chapter pages larger than this are parsed in a thread


class ChapterItem(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter to fetch; its novel and source when the job's params name none (a
    CHAPTER_BATCH's chapters may come from several novels)."""

    id: str
    url: str
    title: str = ""
    serial: int = 0
    novel_id: str | None = None
    source: str | None = None


class ChaptersParams(msgspec.Struct, frozen=True, kw_only=True):
    """VOLUME and CHAPTER params (CHAPTER: one chapter)."""

    chapters: list[ChapterItem]
    novel_id: str | None = None
    source: str | None = None
    refresh: bool = False
    volume_id: str | None = None


class ImageItem(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    chapter_id: str | None = None
    novel_id: str | None = None  # when the job's params name none


class ImagesParams(msgspec.Struct, frozen=True, kw_only=True):
    images: list[ImageItem]
    novel_id: str | None = None


async def fetch_chapters(run: NovelRun) -> None:
    """VOLUME and CHAPTER (see the module docstring). NovelJobFailed when a chapter failed: a
    CHAPTER with its cause, a VOLUME with "k of n chapters failed" and the first cause."""
    params = params_of(run.job, ChaptersParams)
    run.planned(len(params.chapters))
    errors: dict[str, str] = {}
    for (novel_id, name), items in _by_novel(params).items():
        chapters = _ChapterRun(run, source_of(run, name), novel_id, errors)
        await chapters.fetch_all(await chapters.todo(items, params.refresh))
    if run.should_stop():
        return
    _outcome(run, params, errors)


def _by_novel(params: ChaptersParams) -> dict[tuple[str, str], list[ChapterItem]]:
    """The chapters by (novel id, source name), in order; NovelJobFailed for a chapter
    without a valid novel id, id or source."""
    groups: dict[tuple[str, str], list[ChapterItem]] = {}
    try:
        for item in params.chapters:
            novel_id = item_token(item.novel_id or params.novel_id or "", "novel_id")
            item_token(item.id, "chapters[].id")
            source = item.source or params.source
            if not source:
                raise InvalidCommand(f"source: none for chapter {item.id}", field="source")
            groups.setdefault((novel_id, source), []).append(item)
    except InvalidCommand as e:
        raise NovelJobFailed(f"invalid parameters: {e}") from e
    return groups


def _outcome(run: NovelRun, params: ChaptersParams, errors: dict[str, str]) -> None:
    failed = [c.url for c in params.chapters if c.url in run.failed_urls]
    if not failed:
        return
    first = errors.get(failed[0]) or next(iter(errors.values()), None)
    if run.job.type == JobType.CHAPTER and len(params.chapters) == 1:
        raise NovelJobFailed(first or f"{failed[0]} failed")
    text = f"{len(failed)} of {len(params.chapters)} chapters failed"
    raise NovelJobFailed(f"{text}; the first: {first}" if first else text)


class _ChapterRun:
    """A run's chapters of one novel; `errors` gets each failure's cause, by URL."""

    def __init__(
        self, run: NovelRun, source: Source, novel_id: str, errors: dict[str, str]
    ) -> None:
        self.run = run
        self.source = source
        self.novel_id = novel_id
        self.errors = errors
        self._images: dict[str, ImageInfo] = {}  # fetched by this run, by image id
        self._inline: set[str] = set()  # the novel's images in LIBRARY when the run began
        self.groups = ChapterGroups(run, novel_id)

    async def todo(self, items: Sequence[ChapterItem], refresh: bool) -> list[ChapterItem]:
        """The chapters to fetch, each once: not yet recorded by this job, and, unless
        `refresh`, not in the library (those are restated instead). (Once: a group of them
        is recorded under its first chapter's id, which must name one group.)"""
        wanted: dict[str, ChapterItem] = {}
        for item in items:
            done = item.url in self.run.ok_urls or item.url in self.run.failed_urls
            if not done:
                wanted.setdefault(item.id, item)
        stored = {} if refresh else await self.run.library.stored_chapters(
            self.novel_id, list(wanted)
        )  # fmt: skip
        if not refresh:
            self._inline = await self.run.library.inline_image_ids(self.novel_id)
        todo = []
        for chapter_id, item in wanted.items():
            body = stored.get(chapter_id)
            if body is None:
                todo.append(item)
            else:
                await self.restate(item, body)
        return todo

    async def restate(self, item: ChapterItem, body: Chapter) -> None:
        """Record the `chapter_stored` of a chapter the library holds (counted skipped)."""
        size = len(msgspec.json.encode(body))
        await self._record(item, body, size, _image_infos(body.html))
        await self.run.skipped(item.url, "already in the library")

    async def fetch_all(self, todo: Sequence[ChapterItem]) -> None:
        """Fetch `todo`, CHAPTER_SLOTS at a time, and record them (in groups)."""
        try:
            await each(todo, CHAPTER_SLOTS, self.fetch)
        except BaseException:
            await self.groups.discard()
            raise
        await self.groups.close()

    async def fetch(self, item: ChapterItem) -> None:
        """Fetch, store and record one chapter; a stop leaves it unrecorded."""
        if self.run.should_stop():
            return
        try:
            result = await gated_fetch(self.run, item.url, rank=item.serial)
        except Stopped:
            return
        except CrawlError as e:
            await self._failed(failed_page(item.url, 0, e))
            return
        try:
            body, message, images = await self._body(item, result)
        except NovelError as e:
            await self._failed(outcome(item.url, result, str(e)))
            return
        stored, files = await self._store_images(item, images)
        # recorded with others: one `chapters_stored`, their bodies and small images in one
        # fsync'd write
        chapter = _stored(item, body, result, len(message[1]), images)
        await self.groups.add(chapter, message, stored, files)

    async def _body(
        self, item: ChapterItem, result: FetchResult
    ) -> tuple[Chapter, tuple[str, bytes], list[ImageInfo]]:
        """The cleaned chapter, the message that stores it and its images; NovelError when
        the answer is not an OK chapter page, or too large to store."""
        if not 200 <= result.status < 300:
            raise NovelError(f"HTTP {result.status}")
        html = decode_html(result.body, result.content_type)
        if len(result.body) > THREAD_PARSE_BYTES:
            content = await asyncio.to_thread(self.source.parse_chapter, result.final_url, html)
        else:
            content = self.source.parse_chapter(result.final_url, html)
        body = Chapter(title=content.title or item.title, html=content.html)
        try:
            message = self.run.library.chapter_message(self.novel_id, item.id, body)
        except InvalidCommand as e:
            raise NovelError(str(e)) from e
        # the source names the images it kept; one that does not is read from the body
        images = content.image_urls or (() if "<img" not in body.html else None)
        infos = _image_infos(body.html) if images is None else _infos_of(images)
        return body, message, infos

    async def _store_images(
        self, item: ChapterItem, infos: list[ImageInfo]
    ) -> tuple[list[StoredImage], list[Message]]:
        """The chapter's images, each fetched once per run (a stop leaves the rest); the first
        MAX_IMAGES of them. What each fact says, to be recorded with the chapter (stored,
        restated or failed), and the messages storing those small enough to go with the
        chapter's body (larger ones are stored as files here)."""
        infos = infos[:MAX_IMAGES]
        todo = [i for i in infos if i.id not in self._images]
        for info in todo:
            self._images[info.id] = info
        stored: list[StoredImage] = []
        files: list[Message] = []
        room = Room()

        async def one(info: ImageInfo) -> None:
            kept, message = await keep_chapter_image(
                self.run, self.novel_id, info.url, chapter_id=item.id, image_id=info.id,
                inline=self._inline, room=room, rank=item.serial,
            )  # fmt: skip
            stored.append(StoredImage(
                image_id=info.id, url=info.url, chapter_id=item.id, ok=kept.error is None,
                content_type=kept.content_type, bytes=kept.size, error=kept.error,
            ))  # fmt: skip
            if message is not None:
                files.append(message)

        with contextlib.suppress(Stopped):  # a stop leaves the rest unfetched
            await each(todo, IMAGE_SLOTS, one)
        return stored, files

    async def _record(
        self, item: ChapterItem, body: Chapter, size: int, images: list[ImageInfo]
    ) -> None:
        """Record the `chapter_stored` of a chapter the library holds."""
        fact = ChapterStored(
            **envelope(self.run), novel_id=self.novel_id, chapter_id=item.id,
            title=body.title, bytes=size, images=images,
        )  # fmt: skip
        await self.run.record(fact, msg_id(self.run, "chapter", item.id))

    async def _failed(self, page: PageOutcome) -> None:
        self.errors.setdefault(page.url, failure(page))
        await self.run.page(page)


def _stored(
    item: ChapterItem, body: Chapter, result: FetchResult, size: int, images: list[ImageInfo]
) -> StoredChapter:
    """What `chapters_stored` says of a chapter fetched OK and stored (`size` bytes)."""
    final = result.final_url if result.final_url != item.url else None
    return StoredChapter(
        chapter_id=item.id, url=item.url, title=body.title, bytes=size, images=images,
        status=result.status, final_url=final, content_type=result.content_type,
        duration_ms=result.duration_ms, fetched=result.bytes,
    )  # fmt: skip


def _image_infos(html: str) -> list[ImageInfo]:
    """The images a cleaned body shows (absolute ``src``), each once, in order."""
    nodes = LexborHTMLParser(html).css("img[src]")
    return _infos_of((node.attributes.get("src") or "").strip() for node in nodes)


def _infos_of(urls: Iterable[str]) -> list[ImageInfo]:
    """The images at ``urls`` (absolute), each once, in order; invalid ones left out."""
    seen: dict[str, ImageInfo] = {}
    for src in urls:
        try:
            image_id = url_id(src)
        except NovelError:
            continue
        seen.setdefault(image_id, ImageInfo(id=image_id, url=src))
    return list(seen.values())


# -- IMAGE ------------------------------------------------------------------------------


async def fetch_images(run: NovelRun) -> None:
    """IMAGE: each image (one, from fetch-images) stored and recorded with its page;
    NovelJobFailed when an image could not be had."""
    params = params_of(run.job, ImagesParams)
    try:
        novel_ids = [
            item_token(i.novel_id or params.novel_id or "", "novel_id") for i in params.images
        ]
        for image in params.images:
            item_token(image.id, "images[].id")
    except InvalidCommand as e:
        raise NovelJobFailed(f"invalid parameters: {e}") from e
    run.planned(len(params.images))
    errors: list[str] = []
    for image, novel_id in zip(params.images, novel_ids, strict=True):
        if image.url in run.ok_urls or image.url in run.failed_urls:
            continue
        fact = await store_image(
            run, novel_id, image.url, chapter_id=image.chapter_id, image_id=image.id, page=True
        )
        if fact.error:
            errors.append(fact.error)
    if errors and not run.should_stop():
        raise NovelJobFailed(errors[0] if len(errors) == 1 else f"{len(errors)} images failed")
