"""Crawl frontier and per-host pacing: pure bookkeeping, no I/O, no clocks of their own."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import msgspec

from engine.crawl.urls import anchor_globs, host_in_scope, normalize_url, parse_url, path_passes


class FrontierItem(msgspec.Struct, frozen=True, kw_only=True):
    """A URL handed out for fetching; ``depth`` counts link hops from the root (root = 0);
    ``found_on`` is the page whose links first offered it (None: the root, a sitemap)."""

    url: str
    depth: int
    found_on: str | None = None


class Frontier:
    """Which URLs to fetch next, each at most once.

    Contracts:
    - ``add`` normalises, then rejects (in this order) out-of-scope URLs, paths
      failing the include/exclude globs (the root URL is exempt), URLs refused
      by the ``robots_allowed`` predicate (when given) and URLs deeper than
      ``max_depth``.
      Each rejected URL is recorded once as skipped with its reason; duplicates
      are silently ignored and never counted as skipped.
    - ``next`` hands out pending URLs shallowest first, FIFO within a depth,
      never the same URL twice and never more than ``max_pages`` in total
      (0 = unlimited; URLs given to ``seed_done`` count against it).
    - With ``max_depth`` set, ``next`` enforces level order: no URL of depth d+1
      is handed out while one of depth d is still in flight. Every URL is thus
      first reached by a shortest path, which makes the depth cut-off exact
      under concurrency. Depth skips are therefore only final, and reported,
      once the frontier is ``finished``.
    """

    def __init__(
        self,
        root_url: str,
        include_subdomains: bool = False,
        max_pages: int = 0,
        max_depth: int | None = None,
        include_paths: Iterable[str] = (),
        exclude_paths: Iterable[str] = (),
        *,
        robots_allowed: Callable[[str], bool] | None = None,
    ) -> None:
        root = parse_url(root_url)  # InvalidUrl says what is wrong with it
        parts = urlsplit(root)
        self.root_url = root
        # Split once here, not per URL; hostname is an IPv6 address without its brackets.
        self._root_name, self._root_port = parts.hostname or "", parts.port
        self._subdomains = include_subdomains
        self._max_pages = max(0, max_pages)
        self._max_depth = max_depth
        self._include = anchor_globs(include_paths)
        self._exclude = anchor_globs(exclude_paths)
        self._robots_allowed = robots_allowed
        self._known: set[str] = set()
        self._pending: dict[str, FrontierItem] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._order = itertools.count()
        self._in_flight: dict[str, int] = {}
        self._done: set[str] = set()
        self._handed_out = 0
        self._skip_counts: Counter[str] = Counter()
        self._skip_events: list[tuple[str, str]] = []
        self._too_deep: set[str] = set()

    # -- adding -------------------------------------------------------------

    def add(
        self, url: str, depth: int, *, normalized: bool = False, found_on: str | None = None
    ) -> bool:
        """Offer ``url`` found at ``depth`` (on page ``found_on``); return True if it was
        newly enqueued.

        A pending URL offered again at a smaller depth keeps the smaller depth and the page
        it was first found on. ``normalized=True`` promises that ``url`` is already
        :func:`normalize_url`'s output (as extracted links are), and skips normalising it.
        """
        canonical = url if normalized else normalize_url(url)
        if canonical is None:
            return False
        return self._add(canonical, depth, found_on)

    def _add(self, normalized: str, depth: int, found_on: str | None = None) -> bool:
        if normalized in self._pending:
            self._lower_depth(normalized, depth)
            return False
        if normalized in self._known or self._still_too_deep(normalized, depth):
            return False
        reason = self._rejection(normalized, depth)
        if reason == "depth":
            # Not final yet: a shorter path may still reach it (see class doc).
            self._too_deep.add(normalized)
            return False
        if reason is not None:
            self._record_skip(normalized, reason)
            return False
        self._too_deep.discard(normalized)
        self._enqueue(FrontierItem(url=normalized, depth=depth, found_on=found_on))
        return True

    def _still_too_deep(self, url: str, depth: int) -> bool:
        # Offered again, still too deep (a link repeated on many pages of the last
        # level): it stays held back without running its checks again.
        return url in self._too_deep and self._max_depth is not None and depth > self._max_depth

    def in_scope(self, url: str) -> bool:
        """Whether a normalised ``url`` lies within this crawl's host scope."""
        return host_in_scope(url, self._root_name, self._root_port, self._subdomains)

    def _rejection(self, url: str, depth: int) -> str | None:
        if not self.in_scope(url):
            return "out_of_scope"
        # The root is exempt from path globs: it is where link discovery starts.
        if url != self.root_url and not path_passes(url, self._include, self._exclude):
            return "excluded"
        if self._robots_allowed is not None and not self._robots_allowed(url):
            return "robots"
        if self._max_depth is not None and depth > self._max_depth:
            return "depth"
        return None

    def _enqueue(self, item: FrontierItem) -> None:
        self._known.add(item.url)
        self._pending[item.url] = item
        heapq.heappush(self._heap, (item.depth, next(self._order), item.url))

    def _lower_depth(self, url: str, depth: int) -> None:
        item = self._pending[url]
        if depth < item.depth:
            # The old heap entry goes stale; next() discards entries whose depth
            # no longer matches the pending item.
            self._enqueue(msgspec.structs.replace(item, depth=depth))

    def _record_skip(self, url: str, reason: str) -> None:
        # A URL held back for depth may be refused for another reason later (robots
        # once its host's robots.txt is loaded): it is then reported for that reason only.
        self._too_deep.discard(url)
        self._known.add(url)
        self._skip_counts[reason] += 1
        self._skip_events.append((url, reason))

    # -- handing out --------------------------------------------------------

    def next(self) -> FrontierItem | None:
        """The next URL to fetch, or None if nothing may be handed out right now.

        None does not mean the crawl is over: check :attr:`finished`.
        """
        if self._budget_exhausted():
            return None
        while self._heap:
            depth, _, url = self._heap[0]
            item = self._pending.get(url)
            if item is None or item.depth != depth:
                heapq.heappop(self._heap)
                continue
            if self._level_blocked(depth):
                return None
            heapq.heappop(self._heap)
            del self._pending[url]
            self._in_flight[url] = depth
            self._handed_out += 1
            return item
        return None

    def _budget_exhausted(self) -> bool:
        return self._max_pages > 0 and self._handed_out >= self._max_pages

    def _level_blocked(self, depth: int) -> bool:
        if self._max_depth is None:
            return False
        return any(d < depth for d in self._in_flight.values())

    def mark_done(self, url: str) -> None:
        """Record that a handed-out (or pending) URL has been dealt with."""
        # A URL handed out by next() is normalised already.
        normalized = url if url in self._in_flight else (normalize_url(url) or url)
        self._in_flight.pop(normalized, None)
        self._pending.pop(normalized, None)
        self._known.add(normalized)
        self._done.add(normalized)

    def mark_skipped(self, url: str, reason: str) -> None:
        """Turn a handed-out URL into a skip (e.g. robots of another host); refunds its budget."""
        normalized = normalize_url(url) or url
        if self._in_flight.pop(normalized, None) is not None:
            self._handed_out -= 1
        self._pending.pop(normalized, None)
        self._record_skip(normalized, reason)

    def seed_done(self, urls: Iterable[str], *, normalized: bool = False) -> None:
        """Mark URLs fetched by an earlier run as seen and done; they count against max_pages.

        ``normalized=True`` promises that ``urls`` are :func:`normalize_url`'s output.
        """
        for url in urls:
            canonical = url if normalized else normalize_url(url)
            if canonical is None or canonical in self._done:
                continue
            self._pending.pop(canonical, None)
            self._known.add(canonical)
            self._done.add(canonical)
            self._handed_out += 1

    def is_done(self, url: str) -> bool:
        """Whether the normalised ``url`` was marked done (or seeded as done)."""
        return url in self._done

    # -- reporting ----------------------------------------------------------

    def drain_skipped(self) -> list[tuple[str, str]]:
        """(url, reason) skips recorded since the last call; each URL appears once ever."""
        if self.finished and self._too_deep:
            for url in sorted(self._too_deep):
                self._record_skip(url, "depth")
            self._too_deep.clear()
        events, self._skip_events = self._skip_events, []
        return events

    @property
    def finished(self) -> bool:
        """Nothing in flight and nothing (more) that may be handed out."""
        return not self._in_flight and (not self._pending or self._budget_exhausted())

    @property
    def seen(self) -> int:
        """Distinct URLs accepted into the frontier (pending, in flight or done)."""
        return len(self._pending) + len(self._in_flight) + len(self._done)

    @property
    def skipped(self) -> dict[str, int]:
        """Number of skipped URLs per reason (out_of_scope, excluded, robots, depth)."""
        return dict(self._skip_counts)

    @property
    def remaining(self) -> int:
        """How many pending URLs may still be handed out (bounded by max_pages)."""
        if self._max_pages == 0:
            return len(self._pending)
        return max(0, min(len(self._pending), self._max_pages - self._handed_out))

    @property
    def in_flight(self) -> int:
        """URLs handed out and not yet marked done or skipped."""
        return len(self._in_flight)

    @property
    def handed_out(self) -> int:
        """URLs handed out so far, including those seeded as done."""
        return self._handed_out


class HostPacer:
    """Per-host politeness timing; every method takes the current time explicitly.

    A host's interval between request starts is max(``delay_s``, its Crawl-delay).
    ``on_status`` doubles it on 429/503 (at least ``min_backoff_s``, at most
    ``max_delay_s``) and halves it back towards that base on success.
    """

    def __init__(
        self, delay_s: float = 0.0, *, max_delay_s: float = 60.0, min_backoff_s: float = 0.5
    ) -> None:
        self._delay_s = max(0.0, delay_s)
        self._max_delay_s = max_delay_s
        self._min_backoff_s = min_backoff_s
        self._crawl_delay: dict[str, float] = {}
        self._interval: dict[str, float] = {}
        self._next_at: dict[str, float] = {}

    def set_crawl_delay(self, host: str, seconds: float | None) -> None:
        """Apply a robots.txt Crawl-delay (None clears it) to ``host``."""
        self._crawl_delay[host] = max(0.0, seconds or 0.0)
        self._interval[host] = max(self._interval.get(host, 0.0), self.base_interval(host))

    def base_interval(self, host: str) -> float:
        """The configured minimum gap between two requests to ``host``."""
        return max(self._delay_s, self._crawl_delay.get(host, 0.0))

    def interval(self, host: str) -> float:
        """The current gap (base plus any adaptive slowdown) for ``host``."""
        return self._interval.get(host, self.base_interval(host))

    def wait_time(self, host: str, now: float) -> float:
        """Seconds from ``now`` until ``host`` may be requested again (0 if it may now)."""
        return max(0.0, self._next_at.get(host, now) - now)

    def reserve(self, host: str, now: float) -> float:
        """Book the next slot for ``host``; return how long to wait before using it."""
        start = max(now, self._next_at.get(host, now))
        self._next_at[host] = start + self.interval(host)
        return start - now

    def on_status(self, host: str, status: int) -> None:
        """Adapt ``host``'s interval to a response status (429/503 slow down, <400 recover)."""
        current, base = self.interval(host), self.base_interval(host)
        if status in (429, 503):
            ceiling = max(self._max_delay_s, base)
            self._interval[host] = min(ceiling, max(current * 2, self._min_backoff_s))
        elif status < 400 and current > base:
            halved = current / 2
            self._interval[host] = base if halved < max(base, self._min_backoff_s) else halved
