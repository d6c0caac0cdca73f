"""Job handlers: what a worker runs for each job type, behind one small contract."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import aiohttp
import msgspec

from engine.crawl.batch import BATCH_CONCURRENCY, scrape_urls
from engine.crawl.crawler import crawl_site
from engine.crawl.errors import CrawlError
from engine.crawl.fetcher import FetchSettings
from engine.crawl.models import CrawlOptions, PageOutcome
from engine.crawl.pages import fetch_page
from engine.crawl.urls import parse_url
from engine.domain.eventlog import Stored
from engine.domain.events import ChildSpec, Event, PageRecorded
from engine.domain.model import JobType
from engine.domain.state import JobState
from engine.jetstream.library import LibraryStore
from engine.novels.artifact_job import ArtifactFailed, make_artifact
from engine.novels.chapters import fetch_chapters, fetch_images
from engine.novels.full_novel import read_and_expand
from engine.novels.handlers import NovelDeps, NovelJobFailed, Stopped, read_novel
from engine.spiders.job import SpiderFailed, run_spider


class RunOutcome(msgspec.Struct, frozen=True):
    """How a job's run ended, as its handler reports it: `ok`, or the `error` that fails it;
    `handed_off` when the job was expanded (`JobContext.expand`): the worker then leaves it
    running, and the dispatcher ends it once its children have."""

    ok: bool
    error: str | None = None
    handed_off: bool = False


class JobContext(Protocol):
    """What a handler may use; the worker implements it on top of the log."""

    job: JobState
    session: aiohttp.ClientSession
    fetch_settings: FetchSettings
    ok_urls: set[str]
    failed_urls: set[str]
    done_links: dict[str, list[str]]

    async def page(self, page: PageOutcome) -> None: ...
    async def skipped(self, url: str, reason: str) -> None: ...
    async def log(self, level: str, message: str) -> None: ...
    def should_stop(self) -> bool: ...
    def planned(self, total: int) -> None: ...
    @property
    def worker_id(self) -> str: ...
    @property
    def library(self) -> LibraryStore: ...
    @property
    def artifact_builds(self) -> asyncio.Semaphore: ...
    async def history(self, job_id: str) -> Sequence[Stored]: ...
    async def record(
        self, event: Event, msg_id: str, body: tuple[str, bytes] | None = None
    ) -> None: ...
    @property
    def novels(self) -> NovelDeps: ...
    async def expand(self, children: list[ChildSpec], units: int) -> bool: ...


Handler = Callable[[JobContext], Awaitable[RunOutcome]]

# What a scrape extracts when its job names no formats.
DEFAULT_FORMATS = ("markdown", "links")
# How often a handler waiting on one fetch looks for a stop request.
_STOP_POLL_S = 0.1


async def scrape(ctx: JobContext) -> RunOutcome:
    """SCRAPE: fetch each URL not yet recorded, extract the asked formats, record it.

    Fails, naming the cause, when no URL was fetched successfully; a partial failure succeeds
    (the job's counts show it).
    """
    urls: list[str] = list(ctx.job.params.get("urls", []))
    formats = set(ctx.job.params.get("formats", DEFAULT_FORMATS))
    causes = Causes(ctx)
    for url in urls:
        if ctx.should_stop():
            break
        if url in ctx.ok_urls:
            continue
        page = await _unless_stopped(ctx, scrape_one(ctx, url, formats))
        if page is None:
            break
        await causes.page(page)
    if ctx.should_stop() or any(u in ctx.ok_urls for u in urls):
        return RunOutcome(True)
    return RunOutcome(False, causes.all_failed(len(urls), urls[0] if urls else None))


async def _unless_stopped(ctx: JobContext, work: Awaitable[PageOutcome]) -> PageOutcome | None:
    """`work`'s page, or None (`work` cancelled) once the job is asked to stop."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            if ctx.should_stop():
                return None
            await asyncio.wait({task}, timeout=_STOP_POLL_S)
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})


async def scrape_one(ctx: JobContext, url: str, formats: set[str]) -> PageOutcome:
    """One URL fetched and, if it is an OK HTML page, extracted as the crawler does."""
    return await fetch_page(ctx.session, url, 0, ctx.fetch_settings, formats)


async def scrape_batch(ctx: JobContext) -> RunOutcome:
    """SCRAPE_BATCH: every URL of the job, `concurrency` at a time, one result each.

    Resumes after the URLs the log already holds (a redelivered attempt fetches none of
    them again; a retry, which forgets the failed ones, fetches those). Succeeds when every
    URL was fetched OK (or the batch was stopped); else fails with "k of n URLs failed; the
    first: <cause>", the first failed URL in the job's order.
    """
    params = ctx.job.params
    urls = list(dict.fromkeys(params.get("urls", [])))
    causes = Causes(ctx)
    summary = await scrape_urls(
        ctx.session, ctx.fetch_settings, urls, set(params.get("formats", DEFAULT_FORMATS)),
        on_page=causes.page, concurrency=int(params.get("concurrency", BATCH_CONCURRENCY)),
        should_stop=ctx.should_stop, already_done=ctx.ok_urls | ctx.failed_urls,
    )  # fmt: skip
    failed = [url for url in urls if url in ctx.failed_urls]
    await ctx.log("info", f"batch run finished: {summary.fetched} fetched, {summary.ok} ok; "
                  f"{len(ctx.ok_urls)} of {len(urls)} URLs ok in all")  # fmt: skip
    if ctx.should_stop() or not failed:
        return RunOutcome(True)
    cause = causes.cause(failed[0]) or await recorded_cause(ctx, failed[0])
    return RunOutcome(False, f"{len(failed)} of {len(urls)} URLs failed; the first: {cause}")


async def recorded_cause(ctx: JobContext, url: str) -> str:
    """Why ``url`` failed, as its last page event in the log says (a cause an earlier
    attempt met: read only when this run did not meet one)."""
    for stored in reversed(await ctx.history(ctx.job.id)):
        event = stored.event
        if isinstance(event, PageRecorded) and event.url == url and not event.ok:
            error = event.error or (f"HTTP {event.status}" if event.status else "failed")
            return error if url in error else f"{url}: {error}"
    return f"{url}: failed"


async def crawl(ctx: JobContext) -> RunOutcome:
    """CRAWL: a whole site, resuming after the URLs the log already holds.

    Fails, naming the cause, when no page was fetched successfully: parameters the crawler
    refuses, a start URL robots.txt keeps it from, or every fetched URL failed (the start
    URL's error first). A partial failure succeeds; the job's counts show it.
    """
    try:
        options = msgspec.convert(ctx.job.params, CrawlOptions)
        options.validate()
        root = parse_url(options.url)
    except (msgspec.ValidationError, CrawlError) as e:
        return RunOutcome(False, f"invalid crawl parameters: {e}")
    causes = Causes(ctx)
    summary = await crawl_site(
        ctx.session, ctx.fetch_settings, options, on_page=causes.page, on_skip=ctx.skipped,
        should_stop=ctx.should_stop, already_done=ctx.ok_urls | ctx.failed_urls,
        already_links=ctx.done_links, on_planned=ctx.planned, on_log=ctx.log,
    )  # fmt: skip
    await ctx.log("info", f"crawl finished: {summary.ok} ok, {summary.failed} failed, "
                  f"{summary.skipped} skipped")  # fmt: skip
    return _crawl_outcome(ctx, summary.start_url or root, summary.start_refused, causes)


def _crawl_outcome(ctx: JobContext, root: str, refused: str | None, causes: Causes) -> RunOutcome:
    """Success once any page was fetched OK (or the crawl was stopped); else the failure,
    led by why the start URL `root` was not fetched when robots.txt `refused` it."""
    if ctx.ok_urls or ctx.should_stop():
        return RunOutcome(True)
    failed = len(ctx.failed_urls)
    if refused is None or root in ctx.failed_urls:
        return RunOutcome(False, causes.all_failed(failed, root))
    others = f"; {failed} other URL{'s' if failed > 1 else ''} failed" if failed else ""
    return RunOutcome(False, f"{root} not fetched: {refused}{others}")


class Causes:
    """Passes a run's pages on to the job, keeping what each failed one met, so that a job
    that fetched nothing can say why."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._errors: dict[str, str] = {}

    async def page(self, page: PageOutcome) -> None:
        if not page.ok:
            self._errors.setdefault(page.url, cause_of(page))
        await self._ctx.page(page)

    def cause(self, url: str) -> str | None:
        """What ``url`` met in this run, if it failed in it."""
        return self._errors.get(url)

    def all_failed(self, failed: int, first: str | None) -> str:
        """The error of a job none of whose ``failed`` URLs was fetched: the cause ``first``
        (the start URL) met, else the first cause seen in this run."""
        cause = self._errors.get(first or "") or next(iter(self._errors.values()), None)
        if failed == 0:
            return f"nothing was fetched from {first}" if first else "nothing to fetch"
        if cause is None:  # every failure was recorded by an earlier attempt
            return f"all {failed} URLs failed"
        return cause if failed == 1 else f"all {failed} URLs failed; the first: {cause}"


def cause_of(page: PageOutcome) -> str:
    """A failed page's error, naming its URL (the fetcher's errors already do)."""
    error = page.error or (f"HTTP {page.status}" if page.status else "failed")
    return error if page.url in error else f"{page.url}: {error}"


async def unsupported(ctx: JobContext) -> RunOutcome:
    name = JobType(ctx.job.type).name
    return RunOutcome(False, f"job type {name} is not supported yet")


async def artifact(ctx: JobContext) -> RunOutcome:
    """ARTIFACT: one e-book of a novel, made from the library (engine/novels/artifact_job.py);
    fails with the reason it cannot be made."""
    try:
        await make_artifact(ctx)
    except ArtifactFailed as e:
        return RunOutcome(False, str(e))
    return RunOutcome(True)


async def novel(ctx: JobContext) -> RunOutcome:
    """NOVEL: a novel's metadata and table of contents, and its cover (engine/novels)."""
    return await _novel_job(read_novel(ctx))


async def full_novel(ctx: JobContext) -> RunOutcome:
    """FULL_NOVEL: NOVEL, then handed off to a VOLUME_BATCH and an epub ARTIFACT
    (engine/novels/full_novel.py); the dispatcher ends the job after them."""
    try:
        handed_off = await read_and_expand(ctx)
    except Stopped:
        return RunOutcome(True)
    except NovelJobFailed as e:
        return RunOutcome(False, str(e))
    return RunOutcome(True, handed_off=handed_off)


async def chapters(ctx: JobContext) -> RunOutcome:
    """VOLUME and CHAPTER: chapters and their images into the library (engine/novels)."""
    return await _novel_job(fetch_chapters(ctx))


async def image(ctx: JobContext) -> RunOutcome:
    """IMAGE: one image into the library (engine/novels)."""
    return await _novel_job(fetch_images(ctx))


async def _novel_job(work: Awaitable[object]) -> RunOutcome:
    """Success once the work is done, or stopped on request; else the reason it failed."""
    try:
        await work
    except Stopped:
        return RunOutcome(True)
    except NovelJobFailed as e:
        return RunOutcome(False, str(e))
    return RunOutcome(True)


async def spider(ctx: JobContext) -> RunOutcome:
    """SPIDER: the definition snapshot in the job's params, crawled; each item recorded once
    (engine/spiders/job.py); fails when no page could be fetched, or the params are bad."""
    try:
        await run_spider(ctx)
    except SpiderFailed as e:
        return RunOutcome(False, str(e))
    return RunOutcome(True)


def handler_for(job_type: int) -> Handler:
    match job_type:
        case JobType.SCRAPE:
            return scrape
        case JobType.SCRAPE_BATCH:
            return scrape_batch
        case JobType.CRAWL:
            return crawl
        case JobType.ARTIFACT:
            return artifact
        case JobType.NOVEL:
            return novel
        case JobType.FULL_NOVEL:
            return full_novel
        case JobType.VOLUME | JobType.CHAPTER:
            return chapters
        case JobType.IMAGE:
            return image
        case JobType.SPIDER:
            return spider
        case _:
            return unsupported
