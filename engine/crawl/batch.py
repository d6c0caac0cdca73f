"""A list of URLs fetched by a bounded pool: the crawl's fetching and extraction, no discovery.

A batch scrape is one job whose work is a fixed list of URLs. Each URL goes through
`fetch_page`, exactly as a single scrape's or a crawled page does (the private-network guard,
retries, extraction of the asked formats); what the crawl adds around it (robots.txt, a
frontier, link discovery) has no place here, only the per-host pacer, so that a host
answering 429 or 503 slows every slot that asks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from urllib.parse import urlsplit

import aiohttp
import msgspec

from engine.crawl.fetcher import FetchSettings
from engine.crawl.frontier import HostPacer
from engine.crawl.models import MAX_CONCURRENCY, PageOutcome
from engine.crawl.pages import fetch_page
from engine.crawl.tasks import raise_first, tracked

__all__ = ["BATCH_CONCURRENCY", "BatchSummary", "scrape_urls"]

OnPage = Callable[[PageOutcome], Awaitable[None]]
# Fetches in flight by default: as many as a worker once ran one-URL jobs at a time.
BATCH_CONCURRENCY = 16
# How often the stop predicate is polled: bounds the reaction time to a stop (as the crawl).
_STOP_POLL_S = 0.1


class BatchSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What one `scrape_urls` call did: URLs `fetched` (reported) in it, `ok` of them, and
    whether a stop cut it short."""

    fetched: int
    ok: int
    stopped: bool


async def scrape_urls(
    session: aiohttp.ClientSession,
    settings: FetchSettings,
    urls: Sequence[str],
    formats: Collection[str],
    *,
    on_page: OnPage,
    concurrency: int = BATCH_CONCURRENCY,
    should_stop: Callable[[], bool] = lambda: False,
    already_done: Collection[str] = frozenset(),
) -> BatchSummary:
    """Fetch each URL of ``urls`` not in ``already_done`` once, ``concurrency`` at a time.

    Fetches start in list order (a URL listed twice is fetched once); ``on_page`` is awaited
    once per fetched URL, in the order the fetches end. An exception raised by ``on_page``
    aborts the batch and propagates. ``should_stop`` is polled every 0.1 s; once it returns
    True no new fetch starts, fetches in flight are cancelled and not reported, and the
    summary has ``stopped=True``. ``concurrency`` is clamped to 1..MAX_CONCURRENCY.
    """
    todo = [url for url in dict.fromkeys(urls) if url not in already_done]
    run = _BatchRun(session, settings, formats, on_page)
    slots = max(1, min(concurrency, MAX_CONCURRENCY, len(todo) or 1))
    await run.run(iter(todo), slots, should_stop)
    return BatchSummary(fetched=run.fetched, ok=run.ok, stopped=run.stop.is_set())


class _BatchRun:
    """State of one `scrape_urls` call; see it for the contract."""

    def __init__(
        self, session: aiohttp.ClientSession, settings: FetchSettings,
        formats: Collection[str], on_page: OnPage,
    ) -> None:  # fmt: skip
        self._session, self._settings, self._formats = session, settings, formats
        self._on_page = on_page
        self._pacer = HostPacer()
        self._fetches: set[asyncio.Task[PageOutcome]] = set()
        self.stop = asyncio.Event()
        self.fetched = 0
        self.ok = 0

    async def run(self, todo: Iterator[str], slots: int, should_stop: Callable[[], bool]) -> None:
        """Run `slots` slots over the shared `todo` until it is empty or a stop is asked."""
        if should_stop():
            self.stop.set()
            return
        workers = {asyncio.ensure_future(self._slot(todo)) for _ in range(slots)}
        try:
            while workers:
                done, workers = await asyncio.wait(
                    workers, timeout=_STOP_POLL_S, return_when=asyncio.FIRST_EXCEPTION
                )
                raise_first(done)  # a callback's exception ends the run
                if not self.stop.is_set() and should_stop():
                    self._request_stop()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def _request_stop(self) -> None:
        self.stop.set()
        for task in self._fetches:
            task.cancel()

    async def _slot(self, todo: Iterator[str]) -> None:
        # One iterator shared by every slot: `next` never yields to the loop, so each URL
        # goes to exactly one slot.
        for url in todo:
            if self.stop.is_set():
                return
            page = await self._fetch_unless_stopped(url)
            if page is None:
                return
            await self._on_page(page)
            self.fetched += 1
            self.ok += page.ok

    async def _fetch_unless_stopped(self, url: str) -> PageOutcome | None:
        """Pace, fetch and extract ``url``; None when a stop interrupted it."""
        host = urlsplit(url).netloc
        delay = self._pacer.reserve(host, asyncio.get_running_loop().time())
        if delay > 0 and not await self._sleep_unless_stopped(delay):
            return None
        on_status = functools.partial(self._pacer.on_status, host)
        fetching = fetch_page(self._session, url, 0, self._settings, self._formats, on_status)
        return await tracked(self._fetches, fetching)

    async def _sleep_unless_stopped(self, delay: float) -> bool:
        """Wait out a pacing delay; False when a stop came first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay)
        return not self.stop.is_set()
