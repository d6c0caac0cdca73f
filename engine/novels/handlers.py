"""The novel jobs a worker runs: NOVEL reads a novel's page and table of contents; VOLUME and
CHAPTER fetch chapters (:mod:`engine.novels.chapters`); IMAGE fetches one image.

Every request goes through the worker process's :class:`HostGate` (politeness per host, the
private-network guard, retries of 429 and 5xx). What a job learns is recorded through the
run's recorder as facts with deterministic message ids, so a redelivered or resumed attempt
records each of them once:

- ``<job>:novel:<attempt>`` `novel_parsed`, ``<job>:toc:<part>:<attempt>`` `chapters_listed`
  (at most 500 chapters a part);
- ``<job>:chapter:<chapter id>:<attempt>`` `chapter_stored` (a chapter the library held);
- ``<job>:chapters:<first chapter id>:<attempt>`` `chapters_stored` (the chapters fetched,
  in groups: :mod:`engine.novels.stored`);
- ``<job>:image:<image id>:<attempt>`` `image_stored` (the cover too; see
  :mod:`engine.novels.images`).

Content (chapter bodies, the cover, images) is stored in the library before its fact is
recorded, so a recorded fact always has its content. A job asked to stop stops within
:data:`STOP_POLL_S` and keeps what it stored.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, TypeVar

import aiohttp
import msgspec

from engine.crawl.errors import CrawlError
from engine.crawl.extract import decode_html
from engine.crawl.fetcher import FetchSettings
from engine.crawl.models import PageOutcome
from engine.crawl.pages import failed_page
from engine.domain.events import ChapterInfo, ChaptersListed, Event, NovelParsed, VolumeInfo
from engine.domain.state import JobState
from engine.jetstream.library import LibraryStore
from engine.novels.common import (
    STOP_POLL_S,
    Stopped,
    envelope,
    failure,
    gated_fetch,
    msg_id,
    outcome,
    unless_stopped,
)
from engine.novels.errors import NovelError
from engine.novels.images import store_image
from engine.novels.model import NovelInfo
from engine.novels.politeness import HostGate
from engine.novels.sources.base import Request, Source, gather
from engine.novels.sources.registry import Registry, build_registry

# what the chapter jobs and the worker take from here (defined in engine.novels.common)
__all__ = [
    "STOP_POLL_S", "NovelDeps", "NovelJobFailed", "NovelParams", "NovelRun", "Stopped",
    "envelope", "failure", "gated_fetch", "msg_id", "outcome", "params_of", "read_novel",
    "record_novel", "source_of", "store_image", "unless_stopped",
]  # fmt: skip

T = TypeVar("T")

TOC_PART = 500  # chapters per `chapters_listed` event


class NovelDeps(msgspec.Struct, frozen=True, kw_only=True):
    """What every novel job of a worker process shares: the sources (by name: the API
    resolved each job's source at create) and the gate that keeps requests polite."""

    sources: Registry = msgspec.field(default_factory=build_registry)
    gate: HostGate = msgspec.field(default_factory=HostGate)


class NovelRun(Protocol):
    """What the novel handlers use of a job's run (the worker's run context provides it)."""

    job: JobState
    session: aiohttp.ClientSession
    fetch_settings: FetchSettings
    ok_urls: set[str]
    failed_urls: set[str]

    @property
    def worker_id(self) -> str: ...
    @property
    def library(self) -> LibraryStore: ...
    @property
    def novels(self) -> NovelDeps: ...

    async def page(self, page: PageOutcome) -> None: ...
    async def skipped(self, url: str, reason: str) -> None: ...
    async def log(self, level: str, message: str) -> None: ...
    def should_stop(self) -> bool: ...
    def planned(self, total: int) -> None: ...
    async def record(
        self, event: Event, msg_id: str, body: tuple[str, bytes] | None = None
    ) -> None: ...


class NovelJobFailed(NovelError):
    """The job cannot do its work; the message says why and fails it."""


class NovelParams(msgspec.Struct, frozen=True, kw_only=True):
    """NOVEL and FULL_NOVEL: the novel page's URL and the name of the source reading it,
    resolved at create: `source`, or, for a batch's child, `sources[url]`."""

    url: str
    source: str | None = None
    sources: dict[str, str] = {}
    full: bool = False

    @property
    def source_name(self) -> str:
        return self.source or self.sources.get(self.url) or ""


def params_of(job: JobState, kind: type[T]) -> T:
    """The job's params as ``kind``; NovelJobFailed naming what is wrong with them."""
    try:
        return msgspec.convert(job.params, kind)
    except msgspec.ValidationError as e:
        raise NovelJobFailed(f"invalid parameters: {e}") from e


def source_of(run: NovelRun, name: str) -> Source:
    try:
        return run.novels.sources.named(name)
    except NovelError as e:
        raise NovelJobFailed(str(e)) from e


# -- NOVEL ------------------------------------------------------------------------------


async def read_novel(run: NovelRun) -> NovelInfo:
    """NOVEL: fetch the novel's page and whatever its source asks for (the pages are the
    job's progress), parse it, record `novel_parsed` and its `chapters_listed` parts, then
    store the cover and record it; the novel. NovelJobFailed when the page cannot be had or
    parsed, Stopped when the job is asked to stop meanwhile."""
    params = params_of(run.job, NovelParams)
    source = source_of(run, params.source_name)
    page = await fetch_text(run, Request(url=params.url))
    if isinstance(page, PageOutcome):
        raise NovelJobFailed(failure(page))
    final_url, html = page
    try:
        answers = await gather(source, final_url, html, lambda r: _answer(run, r))
        novel = await asyncio.to_thread(source.parse_novel, final_url, html, answers)
    except Stopped:
        raise
    except NovelError as e:
        raise NovelJobFailed(f"{params.url}: {e}") from e
    await record_novel(run, novel, source.name)
    if novel.cover_url is not None:
        await store_image(run, novel.id, novel.cover_url, chapter_id=None, referer=final_url)
    volumes, chapters = len(novel.volumes), len(novel.chapters)
    await run.log("info", f"{novel.title}: {chapters} chapters in {volumes} volumes")
    return novel


async def fetch_text(run: NovelRun, request: Request) -> tuple[str, str] | PageOutcome:
    """The final URL and decoded text of an OK answer to ``request``, or the failed page;
    either way the page is recorded."""
    form = request.form if request.method == "POST" else None
    try:
        result = await gated_fetch(run, request.url, form)
    except CrawlError as e:
        page = failed_page(request.url, 0, e)
    else:
        page = outcome(request.url, result)
    await run.page(page)
    if not page.ok:
        return page
    return result.final_url, decode_html(result.body, result.content_type)


async def _answer(run: NovelRun, request: Request) -> str | None:
    page = await fetch_text(run, request)
    return None if isinstance(page, PageOutcome) else page[1]


async def record_novel(run: NovelRun, novel: NovelInfo, source: str) -> None:
    """`novel_parsed`, then the table of contents in parts of TOC_PART chapters."""
    nid = novel.id
    chapters = [
        ChapterInfo(id=c.id, serial=c.serial, title=c.title, url=c.url,
                    volume_id=f"{nid}-v{c.volume}")
        for c in novel.chapters
    ]  # fmt: skip
    parts = [chapters[i : i + TOC_PART] for i in range(0, len(chapters), TOC_PART)]
    parsed = NovelParsed(
        **envelope(run), novel_id=nid, url=novel.url, source=source, title=novel.title,
        authors=list(novel.authors), synopsis=novel.synopsis, tags=list(novel.tags),
        cover_url=novel.cover_url, chapter_count=len(chapters), parts=len(parts),
        volumes=[VolumeInfo(id=f"{nid}-v{v.serial}", serial=v.serial, title=v.title)
                 for v in novel.volumes],
    )  # fmt: skip
    await run.record(parsed, msg_id(run, "novel"))
    for n, part in enumerate(parts):
        listed = ChaptersListed(**envelope(run), novel_id=nid, part=n, chapters=part)
        await run.record(listed, msg_id(run, "toc", str(n)))
