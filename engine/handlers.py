"""Job handlers: what a worker runs for each job type, behind one small contract."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp
import msgspec

from engine.crawl.crawler import crawl_site
from engine.crawl.fetcher import FetchSettings
from engine.crawl.models import CrawlOptions, PageOutcome
from engine.crawl.pages import fetch_page
from engine.model import JobType
from engine.state import JobState


class Outcome(msgspec.Struct, frozen=True):
    ok: bool
    error: str | None = None


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


Handler = Callable[[JobContext], Awaitable[Outcome]]

# How often a handler waiting on one fetch looks for a stop request.
_STOP_POLL_S = 0.1


async def scrape(ctx: JobContext) -> Outcome:
    """SCRAPE: fetch each URL not yet recorded, extract the asked formats, record it."""
    urls: list[str] = list(ctx.job.params.get("urls", []))
    formats = set(ctx.job.params.get("formats", ["markdown", "links"]))
    for url in urls:
        if ctx.should_stop():
            break
        if url in ctx.ok_urls:
            continue
        page = await _unless_stopped(ctx, scrape_one(ctx, url, formats))
        if page is None:
            break
        await ctx.page(page)
    failed = [u for u in urls if u not in ctx.ok_urls]
    if not failed or ctx.should_stop():
        return Outcome(True)
    return Outcome(False, f"{len(failed)} of {len(urls)} URLs failed")


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


async def crawl(ctx: JobContext) -> Outcome:
    """CRAWL: a whole site, resuming after the URLs the log already holds."""
    options = msgspec.convert(ctx.job.params, CrawlOptions)
    done = ctx.ok_urls | ctx.failed_urls
    summary = await crawl_site(
        ctx.session, ctx.fetch_settings, options, on_page=ctx.page, on_skip=ctx.skipped,
        should_stop=ctx.should_stop, already_done=done,
        already_links=ctx.done_links, on_planned=ctx.planned,
    )  # fmt: skip
    await ctx.log("info", f"crawl finished: {summary.ok} ok, {summary.failed} failed, "
                  f"{summary.skipped} skipped")  # fmt: skip
    return Outcome(True)


async def unsupported(ctx: JobContext) -> Outcome:
    name = JobType(ctx.job.type).name
    return Outcome(False, f"job type {name} is not supported yet")


def handler_for(job_type: int) -> Handler:
    match job_type:
        case JobType.SCRAPE:
            return scrape
        case JobType.CRAWL:
            return crawl
        case _:
            return unsupported
