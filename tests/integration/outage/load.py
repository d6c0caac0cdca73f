"""Outage test support: a steady create load and a /health watcher over real HTTP, each
keeping what it saw, with times, for the test to judge afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.integration.api.helpers import NOVEL, SOURCE
from tests.support import Client

# A create every PACE_S per load loop: steady traffic, not a benchmark.
PACE_S = 0.02


def url_of(n: int) -> str:
    """The novel URL of the load's `n`th create: it becomes the job's title."""
    return f"https://example.com/load-{n}.html"


def novel_body(n: int) -> dict[str, Any]:
    """The default load: a fetch-novel of `url_of(n)` (for an API with no workers)."""
    return {"url": url_of(n), "source": SOURCE}


@dataclass(frozen=True)
class Answer:
    """One create: its number, when it was sent and answered (loop time), the status."""

    n: int
    sent: float
    answered: float
    status: int
    job_id: str | None


@dataclass
class Load:
    """Creates from `loops` concurrent loops until the `running` block ends; every answer
    is kept."""

    clients: list[Client]
    loops: int = 2
    path: str = NOVEL
    body_of: Callable[[int], dict[str, Any]] = novel_body
    answers: list[Answer] = field(default_factory=list)
    _count: int = 0
    _stopping: bool = False

    def ok_since(self, t: float) -> int:
        return sum(1 for a in self.answers if a.status == 201 and a.sent >= t)

    def failed_since(self, t: float) -> int:
        return sum(1 for a in self.answers if a.status != 201 and a.sent >= t)

    async def _loop(self, client: Client) -> None:
        while not self._stopping:
            await self.one(client)
            await asyncio.sleep(PACE_S)

    async def one(self, client: Client) -> Answer:
        """One create more, kept with the loops' ones: the loops' creates on their way when
        the server dies all wait (up to SETTLE_S) to learn whether they were stored, and
        the loops, which send together, may all be among them."""
        loop = asyncio.get_running_loop()
        headers = {"Authorization": f"Bearer {client.token}"}
        self._count += 1
        n = self._count
        sent = loop.time()
        status, job_id = await _create(client, self.path, headers, self.body_of(n))
        answer = Answer(n, sent, loop.time(), status, job_id)
        self.answers.append(answer)
        return answer

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        tasks = [
            asyncio.create_task(self._loop(self.clients[i % len(self.clients)]))
            for i in range(self.loops)
        ]
        try:
            yield self
        finally:  # each loop's create in flight is answered: every create is in `answers`
            self._stopping = True
            for error in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(error, BaseException):  # a failed assertion in a loop
                    raise error


async def _create(
    client: Client, path: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[int, str | None]:
    """POST one create: (status, the job's id when created); 0 when the API itself did not
    answer. An error answer must be JSON naming what went wrong, a 503 must say when to
    retry."""
    try:
        async with client.session.post(client.base + path, json=body, headers=headers) as resp:
            answer = await resp.json()
            if resp.status == 503:
                assert int(resp.headers["Retry-After"]) > 0, answer
            if resp.status != 201:
                assert "detail" in answer, (resp.status, answer)
                return resp.status, None
            return 201, str(answer["id"])
    except aiohttp.ClientError:
        return 0, None


@dataclass(frozen=True)
class Sample:
    """One /health answer: when it was asked and answered (loop time), its status."""

    asked: float
    answered: float
    status: int


@dataclass
class HealthWatch:
    """GET `path` of `base` back to back until stopped."""

    session: aiohttp.ClientSession
    base: str
    path: str = "/health"
    samples: list[Sample] = field(default_factory=list)

    def last_status(self) -> int | None:
        return self.samples[-1].status if self.samples else None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            try:
                async with self.session.get(self.base + self.path) as resp:
                    await resp.read()
                    status = resp.status
            except aiohttp.ClientError:
                status = 0
            self.samples.append(Sample(asked, loop.time(), status))
            await asyncio.sleep(PACE_S)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HealthWatch]:
        task = asyncio.create_task(self._loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
