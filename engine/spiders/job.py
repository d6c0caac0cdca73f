"""A SPIDER job's run: the definition snapshot in its params, crawled; items exactly once.

Exactly once, across worker crashes and redeliveries: a page's items are recorded before
its `page` event, in one ordered stream (the run's recorder), each with the message id
`<job>:item:<url key>:<index>:<attempt>`. A page whose `page` event is in the log is never
fetched again. A page fetched again (its `page` event was lost with the worker) skips the
item indices the log already holds for its URL, which a new run reads from the log first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

import aiohttp
import msgspec

from engine.crawl.fetcher import FetchSettings
from engine.crawl.models import MAX_CONCURRENCY, PageOutcome
from engine.domain.envelope import event_envelope
from engine.domain.errors import InvalidCommand
from engine.domain.eventlog import Stored
from engine.domain.events import Event, ItemScraped
from engine.domain.state import JobState
from engine.spiders.crawl import CrawlPlan, SpiderCrawl
from engine.spiders.extract import MAX_ITEM_BYTES, PageYield
from engine.spiders.model import SpiderDefinition, parse_definition, resolve_arguments, start_urls

# The bounds of a job's params, as the API's create route checks them (a job it accepts must
# run): pages in all, fetches at once (the crawler's bound), milliseconds between requests.
MAX_PAGES = 1_000_000
MAX_DELAY_MS = 600_000
# URLs robots.txt refuses that get a log line of their own; a site may disallow thousands.
LOGGED_REFUSALS = 5


class SpiderParams(msgspec.Struct, frozen=True, kw_only=True):
    """A SPIDER job's params, as the API makes them at create (`spider` names the stored
    spider it ran; `definition` is that spider's definition then, a snapshot)."""

    spider: dict[str, Any] = {}
    definition: dict[str, Any]
    arguments: dict[str, Any] = {}
    max_pages: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGES)] = 1000
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=MAX_CONCURRENCY)] = 8
    respect_robots: bool = True
    delay_ms: Annotated[int, msgspec.Meta(ge=0, le=MAX_DELAY_MS)] = 0


class SpiderContext(Protocol):
    """What a spider run needs of the worker (engine/handlers.py's JobContext has it)."""

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
    async def history(self, job_id: str) -> Sequence[Stored]: ...
    async def record(
        self, event: Event, msg_id: str, body: tuple[str, bytes] | None = None
    ) -> None: ...


class SpiderFailed(Exception):
    """The run cannot succeed; the message is the job's error."""


def plan_of(params: dict[str, Any]) -> tuple[SpiderDefinition, CrawlPlan]:
    """The definition and crawl plan of a job's params; SpiderFailed naming the bad field."""
    try:
        p = msgspec.convert(params, SpiderParams)
        d = parse_definition(p.definition)
        urls = start_urls(d, resolve_arguments(d, p.arguments))
    except msgspec.ValidationError as e:
        raise SpiderFailed(f"invalid spider parameters: {e}") from None
    except InvalidCommand as e:
        raise SpiderFailed(f"invalid spider parameters: {e.field}: {e}") from None
    plan = CrawlPlan(start=urls, max_pages=p.max_pages, concurrency=p.concurrency,
                     respect_robots=p.respect_robots, delay_ms=p.delay_ms)  # fmt: skip
    return d, plan


def url_key(url: str) -> str:
    """A short fixed-width key of a URL, for message ids."""
    return hashlib.sha256(url.encode()).hexdigest()[:24]


async def run_spider(ctx: SpiderContext) -> None:
    """Crawl the job's spider, recording pages and items; SpiderFailed when no page was
    fetched (the cause named). Stopped on request: returns, what it recorded kept."""
    d, plan = plan_of(ctx.job.params)
    run = _SpiderRun(ctx, await _recorded_items(ctx))
    crawl = SpiderCrawl(
        ctx.session, ctx.fetch_settings, d, plan, on_page=run.page, on_skip=run.skip,
        should_stop=ctx.should_stop,
    )  # fmt: skip
    run.crawl = crawl
    await crawl.run(ctx.ok_urls | ctx.failed_urls, ctx.done_links)
    await ctx.log("info", run.summary())
    if ctx.ok_urls or crawl.stopped:
        return
    raise SpiderFailed(run.failure(plan.start))


async def _recorded_items(ctx: SpiderContext) -> set[tuple[str, int]]:
    """(url, index) of every item the job's log holds: those recorded by earlier attempts
    (or earlier in this attempt, before a store outage)."""
    return {
        (s.event.url, s.event.index)
        for s in await ctx.history(ctx.job.id)
        if isinstance(s.event, ItemScraped)
    }


class _SpiderRun:
    """Records what the crawl reports: each page's new items, then the page."""

    def __init__(self, ctx: SpiderContext, recorded: set[tuple[str, int]]) -> None:
        self._ctx = ctx
        self._recorded = recorded
        self.crawl: SpiderCrawl | None = None
        self.items = self.dropped = self.oversized = self.pages = self.ok = self.refused = 0
        self._first_error: str | None = None

    async def page(self, page: PageOutcome, found: PageYield) -> None:
        ctx, attempt = self._ctx, self._ctx.job.attempts
        key = url_key(page.url)
        for index, data in enumerate(found.items):
            if (page.url, index) in self._recorded:
                continue
            envelope = event_envelope(ctx.job.id, ctx.worker_id)
            event = ItemScraped(**envelope, url=page.url, index=index, data=data)
            await ctx.record(event, f"{ctx.job.id}:item:{key}:{index}:{attempt}")
            self._recorded.add((page.url, index))
            self.items += 1
        self.dropped += found.dropped
        self.oversized += found.oversized
        self.pages += 1
        self.ok += page.ok
        if not page.ok and self._first_error is None:
            error = page.error or f"HTTP {page.status}"
            self._first_error = error if page.url in error else f"{page.url}: {error}"
        if self.crawl is not None:
            ctx.planned(self.crawl.planned)
        await ctx.page(page)

    async def skip(self, url: str, reason: str) -> None:
        await self._ctx.skipped(url, reason)
        self.refused += 1
        if self.refused <= LOGGED_REFUSALS:  # the rest are counted in the summary
            await self._ctx.log("warn", f"{url} skipped: robots.txt disallows it")

    def summary(self) -> str:
        notes = [f"{self.dropped} dropped (a required field missing)"] if self.dropped else []
        if self.oversized:
            notes.append(f"{self.oversized} left out (over {MAX_ITEM_BYTES // 1024} KiB)")
        if self.refused:
            plural = "s" if self.refused != 1 else ""
            notes.append(f"{self.refused} URL{plural} skipped (robots.txt disallows)")
        return (f"spider run finished: {self.pages} pages fetched, {self.ok} ok; "
                f"{self.items} items" + "".join(f", {n}" for n in notes))  # fmt: skip

    def failure(self, start: list[str]) -> str:
        if self._first_error is not None:
            return f"no page was fetched; the first error: {self._first_error}"
        return f"nothing was fetched from {start[0]}" if start else "no start URL"
