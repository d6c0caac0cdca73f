"""A spider's crawl: start URLs, then the links its rules follow, `concurrency` at a time.

Every fetch goes through the guarded fetcher (engine/crawl/fetcher.py: the private-network
guard on every hop, size caps, retries), paced per host (HostPacer: `delay_ms`, robots.txt
Crawl-delay, 429/503 back-off) and, with `respect_robots`, checked against robots.txt.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from urllib.parse import urlsplit

import aiohttp
import msgspec

from engine.crawl.discovery import load_robots
from engine.crawl.errors import CrawlError, FetchFailed
from engine.crawl.extract import decode_html
from engine.crawl.fetcher import FetchResult, FetchSettings, fetch, is_html
from engine.crawl.frontier import HostPacer
from engine.crawl.models import PageOutcome
from engine.crawl.pages import THREAD_EXTRACT_BYTES, failed_page
from engine.crawl.robots import RobotsPolicy
from engine.crawl.tasks import raise_first
from engine.crawl.urls import origin_of
from engine.spiders.extract import PageYield, apply_rules, rule_for
from engine.spiders.model import SpiderDefinition

# How often a waiting worker looks at the stop predicate: bounds the reaction to a cancel.
STOP_POLL_S = 0.1

OnPage = Callable[[PageOutcome, PageYield], Awaitable[None]]
OnSkip = Callable[[str, str], Awaitable[None]]


class CrawlPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What to crawl: `start` URLs (canonical), at most `max_pages` pages in all (pages an
    earlier attempt recorded count), `concurrency` fetches at once, `delay_ms` between two
    requests to one host."""

    start: list[str]
    max_pages: int = 1000
    concurrency: int = 8
    respect_robots: bool = True
    delay_ms: int = 0


Entry = tuple[str, int, str | None]  # url, depth, the page it was found on


class _Queue:
    """URLs to fetch, first in first out, except that pages whose rule follows links (a
    catalogue's next page) go before pages that only yield items: the pages that find more
    work are fetched as soon as they are found, so the fetches in flight never run dry
    while a chain of listing pages is walked."""

    def __init__(self) -> None:
        self._leads: deque[Entry] = deque()
        self._leaves: deque[Entry] = deque()

    def __len__(self) -> int:
        return len(self._leads) + len(self._leaves)

    def append(self, entry: Entry, *, leads: bool) -> None:
        (self._leads if leads else self._leaves).append(entry)

    def popleft(self) -> Entry:
        return self._leads.popleft() if self._leads else self._leaves.popleft()


class SpiderCrawl:
    """One run over a site. `run` fetches each URL once: the start URLs, then the links of
    each fetched page, breadth first. `on_page(page, found)` is awaited once per fetched URL
    (a failed fetch with an empty PageYield) and `on_skip(url, "robots")` per URL robots.txt
    refuses. Exceptions from them abort the run and propagate.

    Resume: URLs in `done` are not fetched again; their `links` (as an earlier attempt
    recorded them) are followed as if just fetched. A stop (`should_stop` true) starts no
    new fetch and cancels fetches in flight, unreported.
    """

    def __init__(
        self, session: aiohttp.ClientSession, settings: FetchSettings, d: SpiderDefinition,
        plan: CrawlPlan, *, on_page: OnPage, on_skip: OnSkip, should_stop: Callable[[], bool],
    ) -> None:  # fmt: skip
        self._session, self._settings, self._d, self._plan = session, settings, d, plan
        self._on_page, self._on_skip, self._should_stop = on_page, on_skip, should_stop
        self._hosts = frozenset(urlsplit(u).hostname or "" for u in plan.start)
        self._pacer = HostPacer(plan.delay_ms / 1000)
        self._robots: dict[str, asyncio.Task[RobotsPolicy]] = {}
        self._seen: set[str] = set()
        self._done: Collection[str] = frozenset()  # recorded by an earlier attempt
        self._links: Mapping[str, list[str]] = {}  # the links those recorded
        self._queue = _Queue()
        self._handed_out = 0
        self._in_flight = 0
        self._changed = asyncio.Condition()
        self.stopped = False

    @property
    def planned(self) -> int:
        """Pages handed out (or recorded before) plus those queued, within max_pages."""
        return min(self._handed_out + len(self._queue), self._plan.max_pages)

    async def run(self, done: Collection[str], links: Mapping[str, list[str]]) -> None:
        self._done, self._links = done, links
        self._offer([(url, 0, None) for url in self._plan.start])
        slots = max(1, self._plan.concurrency)
        workers = [asyncio.ensure_future(self._worker()) for _ in range(slots)]
        try:
            await self._supervise(workers)
        finally:
            for task in [*workers, *self._robots.values()]:
                task.cancel()
            await asyncio.gather(*workers, *self._robots.values(), return_exceptions=True)

    def _offer(self, entries: list[Entry]) -> None:
        """Queue each (url, depth, found_on) not seen yet; a URL recorded before is not
        queued but counted, and its recorded links are offered in its place (depth first
        over recorded pages)."""
        stack = list(reversed(entries))
        while stack:
            url, depth, found_on = stack.pop()
            if url in self._seen:
                continue
            self._seen.add(url)
            if url not in self._done:
                rule = rule_for(self._d, url)
                self._queue.append((url, depth, found_on), leads=bool(rule and rule.follow))
                continue
            self._handed_out += 1
            stack.extend((link, depth + 1, url) for link in reversed(self._links.get(url, [])))

    async def _supervise(self, workers: list[asyncio.Task[None]]) -> None:
        pending = set(workers)
        while pending:
            finished, pending = await asyncio.wait(
                pending, timeout=STOP_POLL_S, return_when=asyncio.FIRST_EXCEPTION
            )
            raise_first(finished)  # a callback's exception ends the run
            if self._should_stop() and not self.stopped:
                self.stopped = True
                for task in pending:
                    task.cancel()  # fetches in flight are dropped, unreported
                await asyncio.gather(*pending, return_exceptions=True)
                return

    async def _take(self) -> Entry | None:
        async with self._changed:
            while True:
                if self._queue and self._handed_out < self._plan.max_pages:
                    self._handed_out += 1
                    self._in_flight += 1
                    return self._queue.popleft()
                if self._in_flight == 0:
                    self._changed.notify_all()
                    return None
                await self._changed.wait()

    async def _worker(self) -> None:
        while (entry := await self._take()) is not None:
            url, depth, found_on = entry
            try:
                await self._visit(url, depth, found_on)
            finally:
                async with self._changed:
                    self._in_flight -= 1
                    # one waiter per URL to take; with none, one, to see whether the run ended
                    self._changed.notify(max(1, len(self._queue)))

    async def _visit(self, url: str, depth: int, found_on: str | None) -> None:
        if not await self._robots_permit(url):
            self._handed_out -= 1  # refused before any fetch: it does not count as a page
            await self._on_skip(url, "robots")
            return
        page, found = await self._fetch(url, depth)
        if found_on is not None:
            page = msgspec.structs.replace(page, found_on=found_on)
        await self._on_page(page, found)
        self._offer([(link, depth + 1, url) for link in found.links])

    async def _fetch(self, url: str, depth: int) -> tuple[PageOutcome, PageYield]:
        host = urlsplit(url).netloc
        delay = self._pacer.reserve(host, asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)  # a stop cancels this worker, sleep and all
        try:
            result = await fetch(self._session, url, self._settings)
        except CrawlError as e:
            if isinstance(e, FetchFailed) and e.status is not None:
                self._pacer.on_status(host, e.status)
            return failed_page(url, depth, e), PageYield()
        self._pacer.on_status(host, result.status)
        return await self._read(url, depth, result)

    async def _read(
        self, url: str, depth: int, result: FetchResult
    ) -> tuple[PageOutcome, PageYield]:
        ok = 200 <= result.status < 300
        found = PageYield()
        if ok and is_html(result.content_type):
            found = await extract_page(self._d, result, self._hosts)
        page = PageOutcome(
            url=url, final_url=result.final_url, depth=depth, status=result.status, ok=ok,
            error=None if ok else f"HTTP {result.status}", links=found.links,
            content_type=result.content_type, duration_ms=result.duration_ms,
            bytes=result.bytes, truncated=result.truncated, cache_hit=result.cache_hit,
        )  # fmt: skip
        return page, found

    async def _robots_permit(self, url: str) -> bool:
        if not self._plan.respect_robots:
            return True
        origin = origin_of(url)
        task = self._robots.get(origin)
        if task is None:
            task = self._robots[origin] = asyncio.ensure_future(self._load_robots(origin))
        policy = await asyncio.shield(task)  # shared: one worker's cancel must not end it
        return policy.allowed(url)

    async def _load_robots(self, origin: str) -> RobotsPolicy:
        policy = await load_robots(self._session, origin, self._settings)
        self._pacer.set_crawl_delay(urlsplit(origin).netloc, policy.crawl_delay())
        return policy


async def extract_page(
    d: SpiderDefinition, result: FetchResult, hosts: Collection[str]
) -> PageYield:
    """The rules applied to a fetched HTML page (at its final URL, after redirects); a big
    document is parsed in a thread, so the loop keeps serving the other fetches."""
    html = decode_html(result.body, result.content_type)
    if len(result.body) > THREAD_EXTRACT_BYTES:
        return await asyncio.to_thread(apply_rules, d, result.final_url, html, hosts=hosts)
    return apply_rules(d, result.final_url, html, hosts=hosts)
