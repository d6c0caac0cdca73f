"""The per-host gate fetching from a real HTTP server on 127.0.0.1 (time is faked for the
gate's waits, so a Retry-After of 7 s takes none): requests at once per host, Retry-After
holding the whole host, POST forms, the private-network guard."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from engine.crawl.errors import BlockedAddress
from engine.crawl.fetcher import FetchSettings, make_session
from engine.novels.politeness import HostGate, Politeness
from tests.support import serve_app, wait_until
from tests.unit.novels.fake_time import FakeTime

SETTINGS = FetchSettings(allow_private=True, retries=2)


class Server:
    """`/hold/<n>` answers once released; `/busy` answers 429 (Retry-After: 7) the first
    time; `/form` echoes a POSTed form; `/flaky` answers 503 twice. Counts requests per
    path and the most held at once."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.held = 0
        self.most_held = 0
        self.release = asyncio.Event()
        self.origin = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/hold/{n}", self._hold)
        app.router.add_get("/busy", self._busy)
        app.router.add_get("/later", self._plain)
        app.router.add_get("/flaky", self._flaky)
        app.router.add_post("/form", self._form)
        return app

    async def _hold(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        try:
            await self.release.wait()
        finally:
            self.held -= 1
        return web.Response(text="ok")

    async def _busy(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        if self.hits[request.path] == 1:
            return web.Response(status=429, headers={"Retry-After": "7"})
        return web.Response(text="done")

    async def _plain(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        return web.Response(text="plain")

    async def _flaky(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        return web.Response(status=503) if self.hits[request.path] <= 2 else web.Response()

    async def _form(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        form = await request.post()
        return web.Response(text="&".join(f"{k}={v}" for k, v in form.items()))


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    server = Server()
    async with serve_app(server.app()) as origin:
        server.origin = origin
        try:
            yield server
        finally:
            server.release.set()


async def test_at_most_per_host_requests_reach_a_host_at_once(server: Server) -> None:
    gate = HostGate(Politeness(per_host=2))
    async with make_session(SETTINGS) as session:
        urls = [f"{server.origin}/hold/{n}" for n in range(6)]
        fetches = [asyncio.create_task(gate.fetch(session, u, SETTINGS)) for u in urls]
        await wait_until(lambda: server.held == 2)
        assert sum(server.hits.values()) == 2  # the other four wait at the gate
        server.release.set()
        results = await asyncio.gather(*fetches)
    assert [r.status for r in results] == [200] * 6
    assert server.most_held == 2


async def test_a_retry_after_holds_the_whole_host(server: Server) -> None:
    time = FakeTime(auto=False)
    gate = HostGate(Politeness(per_host=2), clock=time.clock, sleep=time.sleep)
    async with make_session(SETTINGS) as session:
        busy = asyncio.create_task(gate.fetch(session, f"{server.origin}/busy", SETTINGS))
        await wait_until(lambda: time.sleeping == 1)  # the 429 came: waiting out Retry-After
        later = asyncio.create_task(gate.fetch(session, f"{server.origin}/later", SETTINGS))
        await wait_until(lambda: time.sleeping == 2)
        assert server.hits == Counter({"/busy": 1})  # /later waits for the host too
        assert time.waits == [7.0, 7.0]
        time.auto = True
        await time.advance(7.0)
        results = await asyncio.gather(busy, later)
    assert [r.status for r in results] == [200, 200]
    assert server.hits == Counter({"/busy": 2, "/later": 1})


async def test_5xx_are_retried_with_backoff_then_the_host_is_slowed_down(
    server: Server,
) -> None:
    time = FakeTime()
    gate = HostGate(clock=time.clock, sleep=time.sleep)
    async with make_session(SETTINGS) as session:
        flaky = await gate.fetch(session, f"{server.origin}/flaky", SETTINGS)
        form = [("action", "manga_get_chapters"), ("manga", "7")]
        posted = await gate.fetch(session, f"{server.origin}/form", SETTINGS, form=form)
    assert flaky.status == 200 and server.hits["/flaky"] == 3
    first, second, *rest = time.waits
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0  # the fetcher's jittered backoff
    assert rest and rest[0] > 0  # the next request waited: the host answered 503 twice
    assert posted.body == b"action=manga_get_chapters&manga=7"


async def test_every_request_goes_through_the_private_network_guard(server: Server) -> None:
    strict = FetchSettings()
    gate = HostGate()
    async with make_session(strict) as session:
        with pytest.raises(BlockedAddress):
            await gate.fetch(session, f"{server.origin}/later", strict)
    assert server.hits == Counter()
    assert gate.in_use("127.0.0.1:" + server.origin.rsplit(":", 1)[1]) == 0
