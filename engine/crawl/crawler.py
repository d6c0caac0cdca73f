"""Reference crawl loop: robots, sitemaps, then concurrent breadth-first link discovery."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Collection, Mapping
from urllib.parse import urlsplit

import aiohttp
import msgspec

from engine.crawl.discovery import discover_sitemap_urls, load_robots
from engine.crawl.fetcher import FetchSettings
from engine.crawl.frontier import Frontier, FrontierItem, HostPacer
from engine.crawl.models import CrawlOptions, CrawlSummary, PageOutcome
from engine.crawl.pages import fetch_page
from engine.crawl.robots import RobotsPolicy
from engine.crawl.scheme import start_url
from engine.crawl.tasks import raise_first, tracked
from engine.crawl.urls import normalize_url, origin_of

__all__ = ["CrawlOptions", "CrawlSummary", "PageOutcome", "crawl_site"]

OnPage = Callable[[PageOutcome], Awaitable[None]]
OnSkip = Callable[[str, str], Awaitable[None]]
OnLog = Callable[[str, str], Awaitable[None]]
# Why a skipped start URL was not fetched, by skip reason (robots: the refusal's own words).
_START_SKIPPED = {
    "out_of_scope": "it lies outside the crawl's hosts",
    "excluded": "the path globs exclude it",
    "depth": "it is deeper than max_depth",
    "robots": "robots.txt disallows it",
}
# How often the stop predicate is polled; bounds the reaction time to a stop.
_STOP_POLL_S = 0.1


async def crawl_site(
    session: aiohttp.ClientSession,
    settings: FetchSettings,
    options: CrawlOptions,
    *,
    on_page: OnPage,
    on_skip: OnSkip,
    should_stop: Callable[[], bool] = lambda: False,
    already_done: Collection[str] = frozenset(),
    already_links: Mapping[str, list[str]] | None = None,
    on_planned: Callable[[int], None] = lambda _: None,
    on_log: OnLog | None = None,
) -> CrawlSummary:
    """Crawl the site at ``options.url`` and report every URL exactly once.

    Order: robots.txt of the root origin (when ``respect_robots`` or
    ``use_sitemap``), sitemap URLs (robots Sitemap lines, else /sitemap.xml) at
    depth 1, then breadth-first link discovery from the root (depth 0) with
    ``options.concurrency`` workers, per-host pacing and robots checks.

    ``on_page`` is awaited once per fetched URL, ``on_skip(url, reason)`` once per
    skipped URL (reasons: out_of_scope, excluded, robots, depth). Exceptions
    raised by the callbacks abort the crawl and propagate. ``should_stop`` is
    polled every 0.1 s; once it returns True no new fetch starts, in-flight
    fetches are cancelled and unreported, and the summary has ``stopped=True``.

    Resume: URLs in ``already_done`` are neither fetched nor reported and count
    against ``max_pages``; their links from ``already_links`` are followed as if
    they had just been fetched. Raises InvalidOptions / InvalidUrl for bad options.

    ``on_planned(n)`` is called before each ``on_page`` with how many URLs the crawl
    has handed out or still holds (within ``max_pages``): its total so far.

    ``on_log(level, message)`` hears what a person should know about the start: the http
    URL crawled instead when ``options.http_fallback`` and https cannot connect
    (engine.crawl.scheme), and why the start URL was skipped; the summary's ``start_url``
    is the URL the crawl started from.
    """
    options.validate()
    log = on_log or _no_log
    if options.http_fallback:
        start = await start_url(session, options.url, settings)
        options = msgspec.structs.replace(options, url=start.url)
        if start.note is not None:
            await log("warn", start.note)
    run = _CrawlRun(session, settings, options, on_page, on_skip, should_stop, on_planned, log)
    return await run.run(already_done, already_links or {})


async def _no_log(level: str, message: str) -> None:
    return None


class _CrawlRun:
    """State of one crawl_site call; see crawl_site for the contract."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: FetchSettings,
        options: CrawlOptions,
        on_page: OnPage,
        on_skip: OnSkip,
        should_stop: Callable[[], bool],
        on_planned: Callable[[int], None],
        on_log: OnLog,
    ) -> None:
        self._session, self._settings, self._options = session, settings, options
        self._on_page, self._on_skip, self._should_stop = on_page, on_skip, should_stop
        self._on_planned, self._on_log = on_planned, on_log
        self._pacer = HostPacer(options.delay_ms / 1000)
        self._robots: dict[str, asyncio.Task[RobotsPolicy]] = {}
        self._frontier = Frontier(  # raises InvalidUrl for a root that is not http(s)
            options.url,
            options.include_subdomains,
            options.max_pages,
            options.max_depth,
            options.include_paths,
            options.exclude_paths,
            robots_allowed=self._robots_known_allowed if options.respect_robots else None,
        )
        self._root = self._frontier.root_url
        self._stop = asyncio.Event()
        self._changed = asyncio.Condition()
        self._fetches: set[asyncio.Task[PageOutcome]] = set()
        self._resume_links: Mapping[str, list[str]] = {}
        self._resumed: set[str] = set()
        self._expanded: dict[str, int] = {}
        self._counts = {"pages": 0, "ok": 0, "skipped": 0, "sitemap_urls": 0}
        self._start_refused: str | None = None
        # Links are always extracted: discovery and crash-resume both need them.
        self._formats = options.formats | {"links"}

    async def run(
        self, already_done: Collection[str], links: Mapping[str, list[str]]
    ) -> CrawlSummary:
        try:
            await self._seed(already_done, links)
            await self._run_workers()
            await self._flush_skips()
        finally:
            for task in self._robots.values():
                task.cancel()
            await asyncio.gather(*self._robots.values(), return_exceptions=True)
        return CrawlSummary(
            pages=self._counts["pages"],
            ok=self._counts["ok"],
            failed=self._counts["pages"] - self._counts["ok"],
            skipped=self._counts["skipped"],
            stopped=self._stop.is_set(),
            sitemap_urls=self._counts["sitemap_urls"],
            start_refused=self._start_refused,
            start_url=self._root,
        )

    # -- seeding --------------------------------------------------------------

    async def _seed(self, already_done: Collection[str], links: Mapping[str, list[str]]) -> None:
        self._load_resume(already_done, links)
        origin = origin_of(self._root)
        robots = RobotsPolicy.allow_all()
        if self._options.respect_robots or self._options.use_sitemap:
            robots = await self._robots_for(origin)
        if self._options.respect_robots:
            self._start_refused = robots.refusal(self._root)
        self._discover(self._root, 0)
        if self._options.use_sitemap and not self._check_stop():
            sitemaps = robots.sitemaps() or [f"{origin}/sitemap.xml"]
            urls = await discover_sitemap_urls(
                self._session, sitemaps, self._settings, should_stop=self._check_stop
            )
            self._counts["sitemap_urls"] = len(urls)
            for url in urls:  # normalised by discover_sitemap_urls
                self._discover(url, 1)
        await self._flush_skips()

    def _load_resume(self, already_done: Collection[str], links: Mapping[str, list[str]]) -> None:
        """Take in an earlier run's pages and their links, normalised here once (the links
        were extracted, so normalised, but come from storage)."""
        self._resume_links = {
            normalize_url(u) or u: [n for n in map(normalize_url, v) if n is not None]
            for u, v in links.items()
        }
        self._resumed = {n for n in map(normalize_url, already_done) if n is not None}
        self._frontier.seed_done(self._resumed, normalized=True)

    def _discover(self, url: str, depth: int, found_on: str | None = None) -> None:
        """Offer a normalised URL, found on page `found_on`, to the frontier; URLs done in an
        earlier run expand their (normalised in _seed) links."""
        stack = [(url, depth, found_on)]
        while stack:
            normalized, level, page = stack.pop()
            if normalized not in self._resumed:
                self._frontier.add(normalized, level, normalized=True, found_on=page)
                continue
            if self._expanded.get(normalized, level + 1) <= level:
                continue
            self._expanded[normalized] = level
            if self._options.find_links:
                children = self._resume_links.get(normalized, [])
                stack.extend((link, level + 1, normalized) for link in reversed(children))

    # -- robots -------------------------------------------------------------

    def _robots_for(self, origin: str) -> asyncio.Task[RobotsPolicy]:
        """The (shared, cached) robots.txt load for ``origin``; also applies Crawl-delay."""
        task = self._robots.get(origin)
        if task is None:
            task = asyncio.ensure_future(self._load_robots(origin))
            self._robots[origin] = task
        return task

    async def _load_robots(self, origin: str) -> RobotsPolicy:
        policy = await load_robots(self._session, origin, self._settings)
        if self._options.respect_robots:
            self._pacer.set_crawl_delay(urlsplit(origin).netloc, policy.crawl_delay())
        return policy

    def _robots_known_allowed(self, url: str) -> bool:
        # Only decides for hosts whose robots.txt is already loaded; other hosts
        # are checked by the worker before fetching.
        task = self._robots.get(origin_of(url))
        if task is None or not task.done() or task.cancelled() or task.exception():
            return True
        return task.result().allowed(url)

    async def _robots_permit(self, url: str) -> bool:
        if not self._options.respect_robots:
            return True
        # Shielded: the load is shared, a cancelled worker must not cancel it for others.
        policy = await asyncio.shield(self._robots_for(origin_of(url)))
        return policy.allowed(url)

    # -- workers ------------------------------------------------------------

    async def _run_workers(self) -> None:
        if self._check_stop():
            await self._request_stop()
            return
        workers = {asyncio.ensure_future(self._worker()) for _ in range(self._options.concurrency)}
        try:
            while workers:
                done, workers = await asyncio.wait(
                    workers, timeout=_STOP_POLL_S, return_when=asyncio.FIRST_EXCEPTION
                )
                raise_first(done)  # a callback's exception ends the run
                if self._check_stop():
                    await self._request_stop()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def _check_stop(self) -> bool:
        return self._stop.is_set() or self._should_stop()

    async def _request_stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for task in self._fetches:
            task.cancel()
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _take(self) -> FrontierItem | None:
        async with self._changed:
            while not self._stop.is_set():
                item = self._frontier.next()
                if item is not None:
                    return item
                if self._frontier.finished:
                    return None
                await self._changed.wait()
        return None

    async def _worker(self) -> None:
        while (item := await self._take()) is not None:
            try:
                await self._handle(item)
            finally:
                await self._notify()

    async def _handle(self, item: FrontierItem) -> None:
        if not await self._robots_permit(item.url):
            self._frontier.mark_skipped(item.url, "robots")
            await self._flush_skips()
            return
        try:
            outcome = await self._fetch_unless_stopped(item)
            if outcome is not None:
                await self._report(item, outcome)
        finally:
            # Marked done only after its links are in the frontier: the level
            # barrier must not open before this page's children are known.
            self._frontier.mark_done(item.url)

    async def _report(self, item: FrontierItem, outcome: PageOutcome) -> None:
        self._on_planned(self._frontier.handed_out + self._frontier.remaining)
        await self._on_page(outcome)
        self._counts["pages"] += 1
        self._counts["ok"] += outcome.ok
        if self._options.find_links and outcome.ok:
            for link in outcome.links:
                self._discover(link, item.depth + 1, item.url)
        await self._flush_skips()

    async def _flush_skips(self) -> None:
        for url, reason in self._frontier.drain_skipped():
            self._counts["skipped"] += 1
            if url == self._root:
                await self._on_log("warn", f"start URL {url} skipped: {self._why(reason)}")
            await self._on_skip(url, reason)

    def _why(self, reason: str) -> str:
        if reason == "robots" and self._start_refused is not None:
            return self._start_refused
        return _START_SKIPPED.get(reason, reason)

    # -- fetching -----------------------------------------------------------

    async def _fetch_unless_stopped(self, item: FrontierItem) -> PageOutcome | None:
        """Pace, fetch and extract ``item``; None if a stop interrupted it."""
        host = urlsplit(item.url).netloc
        delay = self._pacer.reserve(host, asyncio.get_running_loop().time())
        if delay > 0 and not await self._sleep_unless_stopped(delay):
            return None
        return await tracked(self._fetches, self._fetch_outcome(item, host))

    async def _sleep_unless_stopped(self, delay: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)
        return not self._stop.is_set()

    async def _fetch_outcome(self, item: FrontierItem, host: str) -> PageOutcome:
        # The host's pacer adapts to each status the server answered with.
        on_status = functools.partial(self._pacer.on_status, host)
        outcome = await fetch_page(
            self._session, item.url, item.depth, self._settings, self._formats, on_status
        )
        if item.found_on is None:
            return outcome
        return msgspec.structs.replace(outcome, found_on=item.found_on)
