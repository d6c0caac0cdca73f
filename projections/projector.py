"""The projector: follows `JOBS` from its checkpoint and keeps the read model current."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from typing import Any

import aiosqlite
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from engine.domain.events import AnyEvent, Codec
from engine.jetstream.store import JOBS_STREAM, follow_log
from projections.apply import apply_batch
from projections.errors import NotReady
from projections.schema import read_checkpoint
from projections.state_cache import StateCache

log = logging.getLogger(__name__)


class Projector:
    """Applies log events in batched transactions; `wait_for(seq)` gives read-your-writes.

    Batches form naturally: whatever arrived while the previous transaction ran is applied
    together (up to `batch_max`), so a quiet log is applied one event at a time with low
    latency and a busy one in large, cheap transactions.
    """

    def __init__(self, db: aiosqlite.Connection, nc: NATS, codec: Codec, batch_max: int = 1000):
        self._db = db
        self._nc = nc
        self._codec = codec
        self._batch_max = batch_max
        self._queue: asyncio.Queue[tuple[int, AnyEvent]] = asyncio.Queue(maxsize=4 * batch_max)
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = 0
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self.checkpoint = 0
        self.caught_up = asyncio.Event()
        self._target = 0
        self._states = StateCache()  # the states this projector wrote, not decoded again

    async def start(self) -> None:
        """Subscribe from the checkpoint; `caught_up` is set once the log's tail is applied."""
        self.checkpoint = await read_checkpoint(self._db)
        js = self._nc.jetstream()
        self._target = int((await js.stream_info(JOBS_STREAM)).state.last_seq)
        self._check_caught_up()
        self._sub = await follow_log(js, self.checkpoint + 1, self._on_msg)
        self._task = asyncio.create_task(self._run(), name="projector")

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(NotReady("projector stopped"))
        self._waiters.clear()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def waiting(self) -> int:
        """How many callers of `wait_for` wait now (for tests and metrics)."""
        return sum(not fut.done() for _, _, fut in self._waiters)

    async def wait_for(self, seq: int, timeout: float = 10.0) -> None:
        """Return once every event up to `seq` is applied; NotReady after `timeout`."""
        if self.checkpoint >= seq:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._counter += 1
        heapq.heappush(self._waiters, (seq, self._counter, fut))
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError as e:
            raise NotReady(f"read model did not reach sequence {seq} in {timeout}s") from e

    async def _on_msg(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        await self._queue.put((seq, self._codec.decode(msg.data)))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [item for item in batch if item[0] > self.checkpoint]
            if not batch:
                continue
            self.checkpoint = await self._apply(batch)
            self._release()
            self._check_caught_up()

    async def _apply(self, batch: list[tuple[int, AnyEvent]]) -> int:
        """Apply `batch` (in one transaction); the new checkpoint."""
        return await apply_batch(self._db, batch, self._states)

    def _release(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.checkpoint:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    def _check_caught_up(self) -> None:
        if self.checkpoint >= self._target:
            self.caught_up.set()


async def rebuild(db: aiosqlite.Connection, nc: NATS, codec: Codec, timeout: float = 600) -> int:
    """Apply the whole log from sequence 1 into `db` (expected empty); returns the checkpoint."""
    projector = Projector(db, nc, codec)
    await projector.start()
    try:
        await asyncio.wait_for(projector.caught_up.wait(), timeout)
    finally:
        await projector.stop()
    return projector.checkpoint
