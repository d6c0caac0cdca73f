"""Politeness per host, shared by every novel job of one worker process.

A novel's hundreds of chapters come from one site, and several jobs (volumes of one novel,
novels of one site) may run at once in a worker: left alone they would hit that site as
hard as the worker's slots allow. A :class:`HostGate` bounds them together: at most
``per_host`` requests to a host at once, their starts at least ``delay_s`` apart, and after a
429 or 5xx, nothing to that host before its Retry-After (or the backoff) has passed. Hosts
are told apart by :func:`engine.novels.hosts.host_key` (the port counts).

Requests waiting for a host are served by :data:`Order`: families (the jobs of one parent,
say a novel's volumes) take turns, and within a family the lowest rank (a chapter's serial)
goes first. So the volumes of one novel finish one after another, in reading order, each
ending while the next ones fetch, rather than all together at the very end; and two novels
read from one site still share it half and half.

Every request goes through :func:`engine.crawl.fetcher.fetch` (its private-network guard,
size caps, redirects and retries of 429 and 5xx with backoff); the gate only decides when
each attempt may start. Several worker processes each keep their own gate, so a host's
effective rate is multiplied by the number of processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Annotated
from urllib.parse import urlsplit

import aiohttp
import msgspec

from engine.crawl.errors import FetchFailed
from engine.crawl.fetcher import FetchResult, FetchSettings, fetch
from engine.crawl.frontier import HostPacer
from engine.novels.errors import InvalidNovelUrl
from engine.novels.hosts import host_key

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Order = tuple[str, int]  # (family, rank): see the module docstring
ANY_ORDER: Order = ("", 0)  # one family, one rank: first come, first served
# A URL without spaces or control characters, split as urlsplit splits it (scheme, netloc):
# such URLs, nearly all, skip urlsplit's cleaning and checks (host_key makes them anyway).
_ORIGIN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\x00-\x20]*)(?:[/?#][^\x00-\x20]*)?")


class Politeness(msgspec.Struct, frozen=True, kw_only=True):
    """How one worker process treats each host: ``per_host`` requests at once at most,
    starts at least ``delay_s`` apart; a host answering 429 or 5xx is slowed down (the gap
    doubled, up to ``max_delay_s``) until it answers well again."""

    per_host: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    delay_s: Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)] = 0.0
    max_delay_s: Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)] = 60.0


class Turn:
    """A request's turn at its host (see :meth:`HostGate.turn`)."""

    def __init__(self, gate: HostGate, host: str, order: Order) -> None:
        self._gate = gate
        self._host = host
        self._order = order

    async def pause(self, seconds: float) -> None:
        """Give the turn back for ``seconds`` (a Retry-After, or a backoff after a failed
        attempt): no request to the host starts before they have passed, and the host is
        slowed down; then wait for a new turn. The fetcher calls it between attempts."""
        self._gate._leave(self._host)
        self._gate._hold(self._host, seconds)
        await self._gate._enter(self._host, self._order)


class _Places:
    """``limit`` places at one host. A waiter is served when a place is free, by family in
    turn (a family goes to the back of the rotation when one of its waiters is served) and
    within a family by rank, then arrival."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._waiting: dict[str, list[tuple[int, int, asyncio.Future[None]]]] = {}  # rotation
        self._arrivals = itertools.count()

    async def acquire(self, order: Order) -> None:
        """Return holding a place; a cancelled wait holds none."""
        if self.held < self.limit and not self._waiting:
            self.held += 1
            return
        family, rank = order
        served: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting.setdefault(family, []), (rank, next(self._arrivals), served))
        self._serve()  # a place may be free behind waiters that were cancelled
        try:
            await served
        except asyncio.CancelledError:
            if served.done() and not served.cancelled():  # served just as it was cancelled
                self.release()
            raise  # a cancelled waiter stays queued and is skipped when its turn comes

    def release(self) -> None:
        self.held -= 1
        self._serve()

    def _serve(self) -> None:
        while self.held < self.limit and self._waiting:
            family, queue = next(iter(self._waiting.items()))
            while queue and queue[0][2].done():  # cancelled: skipped, the family keeps its turn
                heapq.heappop(queue)
            del self._waiting[family]
            if not queue:
                continue
            served = heapq.heappop(queue)[2]
            if queue:
                self._waiting[family] = queue  # to the back of the rotation
            served.set_result(None)
            self.held += 1

    @property
    def waiting(self) -> int:
        return sum(not w[2].done() for queue in self._waiting.values() for w in queue)


class HostGate:
    """When requests to each host may start, for all the novel jobs of one worker process.

    ``clock`` and ``sleep`` are the time source and the wait (monotonic seconds); tests pass
    a fake pair. Hosts are kept for the life of the gate (a worker reads few sites).
    """

    def __init__(
        self,
        politeness: Politeness | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.politeness = politeness or Politeness()
        self._clock = clock
        self._sleep = sleep
        self._pacer = HostPacer(self.politeness.delay_s, max_delay_s=self.politeness.max_delay_s)
        self._places: dict[str, _Places] = {}
        self._not_before: dict[str, float] = {}

    async def fetch(
        self,
        session: aiohttp.ClientSession,
        url: str,
        settings: FetchSettings,
        *,
        form: Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        order: Order = ANY_ORDER,
    ) -> FetchResult:
        """:func:`engine.crawl.fetcher.fetch` of ``url`` (a POST of ``form`` if given,
        with ``headers``), each attempt started in a turn at the URL's host, waiting in
        ``order``. Raises what ``fetch`` raises, and FetchFailed (permanent) for a URL
        without a valid host."""
        host = _host_of(url)
        try:
            async with self.turn(host, order) as turn:
                result = await fetch(
                    session, url, settings, sleep=turn.pause, form=form, headers=headers
                )
        except FetchFailed as e:
            if e.status is not None:
                self._pacer.on_status(host, e.status)
            raise
        self._pacer.on_status(host, result.status)
        return result

    @contextlib.asynccontextmanager
    async def turn(self, host: str, order: Order = ANY_ORDER) -> AsyncIterator[Turn]:
        """Wait until a request to ``host`` may start (a free place among its ``per_host``,
        given to waiters by ``order``; its gap since the previous start; any Retry-After);
        hold the place for the block."""
        await self._enter(host, order)
        try:
            yield Turn(self, host, order)
        finally:
            self._leave(host)

    def in_use(self, host: str) -> int:
        """How many turns at ``host`` are held now."""
        places = self._places.get(host)
        return places.held if places is not None else 0

    def waiting(self, host: str) -> int:
        """How many requests wait for a place at ``host`` now."""
        places = self._places.get(host)
        return places.waiting if places is not None else 0

    async def _enter(self, host: str, order: Order) -> None:
        places = self._places.get(host)
        if places is None:
            places = self._places[host] = _Places(self.politeness.per_host)
        await places.acquire(order)
        try:
            while (wait := self._not_before.get(host, 0.0) - self._clock()) > 0:
                await self._sleep(wait)
            wait = self._pacer.reserve(host, self._clock())
            if wait > 0:
                await self._sleep(wait)
        except BaseException:  # cancelled while waiting: the place goes back
            places.release()
            raise

    def _leave(self, host: str) -> None:
        self._places[host].release()

    def _hold(self, host: str, seconds: float) -> None:
        until = self._clock() + max(0.0, seconds)
        self._not_before[host] = max(self._not_before.get(host, 0.0), until)
        self._pacer.on_status(host, 503)  # a failed attempt: slow the host down


def _host_of(url: str) -> str:
    try:
        if (plain := _ORIGIN.fullmatch(url)) is not None:
            return _origin_key(plain[1].lower(), plain[2])
        parts = urlsplit(url)
        return _origin_key(parts.scheme, parts.netloc)
    except (InvalidNovelUrl, ValueError) as e:
        raise FetchFailed(f"invalid URL {url}: {e}", permanent=True) from e


@functools.lru_cache(maxsize=1024)  # pure; a worker reads few sites, each many times
def _origin_key(scheme: str, netloc: str) -> str:
    return host_key(f"{scheme}://{netloc}")
