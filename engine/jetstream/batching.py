"""Group commit of a worker's small writes: what its slots store at about the same time goes
to a stream as one atomic batch.

An atomic batch costs the server about the same whatever it holds (measured on the two-core
dev machine with `sync_interval: always`: 5 to 7 ms for 1, 2, 8, 32 or 64 messages, against
0.8 ms for one plain publish), so batches of one run's three or four events cost more than
publishing them alone, and batches of many runs' events cost far less. Writes arriving
while batches are on their way (or in the same event-loop turn as the first) are gathered
into the next: nothing waits on a timer, a write on an idle worker goes at once, alone.

Each write keeps its own contract: a batch stored whole answers every write with the
sequence of its last message; a batch refused as a whole (one write's sequence check failed)
or whose outcome is unknown (once the connection is back, if it broke) has each of its
writes made again alone, by the write's own `alone` coroutine, which answers (or raises) as
it would have without batching; after an unknown outcome, an unavailable store is asked
again (for up to SETTLE_S) rather than answered: the batch may have been stored, and a
write must not be told it failed when it did not (a create answered 503 for a job that
exists). A batch gives up its place among those on their way once stored or after one
publish's timeout, so such a wait never holds back the writes after it. Used by a worker's
slots (engine/held.py) and by the API's creates (engine/jetstream/group_commit.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from nats.aio.client import Client as NATS

from engine.domain.events import Codec, Event, subject_of
from engine.domain.ids import job_token
from engine.jetstream.atomic import BatchRefused, Message, publish_atomic
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.store import RECONNECT_POLL_S, SETTLE_S, UNREACHABLE_RETRY_S

log = logging.getLogger(__name__)

MAX_MESSAGES = 256  # per batch, well below the server's limit on an atomic batch (1000)
IN_FLIGHT = 2  # batches on their way at once: more writes are gathered meanwhile
Alone = Callable[[], Awaitable[int]]


def job_messages(codec: Codec, events: Sequence[Event], expected: int) -> list[Message]:
    """One job's `events` as a write for JOBS: the first guarded by the job's last sequence
    being `expected`. Message ids of their own (event id, `expected`, "g"), not those of
    EventStore.append, which makes the write again alone: a batch refused as a whole may
    keep its ids in the stream's duplicate window (see EventStore._append_atomic)."""
    job = events[0].job_id
    guard = {
        "Nats-Expected-Last-Subject-Sequence": str(expected),
        "Nats-Expected-Last-Subject-Sequence-Subject": f"jobs.{job_token(job)}.*",
    }
    return [
        (subject_of(e), codec.encode(e), {"Nats-Msg-Id": f"{e.event_id}:{expected}:g"} | (
            guard if i == 0 else {}))
        for i, e in enumerate(events)
    ]  # fmt: skip


class _Write:
    def __init__(self, key: str, messages: Sequence[Message], alone: Alone) -> None:
        self.key = key
        self.messages = messages
        self.alone = alone
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()


class GroupWriter:
    """Writes to one stream, gathered into atomic batches (see the module's docstring).

    One per stream and event loop, shared by the slots of a worker.
    """

    def __init__(
        self, nc: NATS, *, timeout: float = 10.0, max_messages: int = MAX_MESSAGES,
        in_flight: int = IN_FLIGHT,
    ) -> None:  # fmt: skip
        self._nc = nc
        self._timeout = timeout
        self._max = max_messages
        self._in_flight = in_flight
        self._queue: list[_Write] = []
        self._running = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # batches of several writes stored whole (for tests)

    async def write(self, key: str, messages: Sequence[Message], alone: Alone) -> int:
        """Store `messages` (in order, all or none) with those of other writes; the stream
        sequence of the last. `key` names what the messages' sequence checks guard (a job):
        two writes of one key never share a batch, since the server checks every message
        against the stream as it was before the batch. `alone()` makes the write by itself
        when its batch fails; its answer or error is this call's."""
        write = _Write(key, messages, alone)
        self._queue.append(write)
        self._schedule()
        return await write.done

    def _schedule(self) -> None:
        if not self._scheduled and self._queue and self._running < self._in_flight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._launch)

    def _launch(self) -> None:
        self._scheduled = False
        while self._queue and self._running < self._in_flight:
            batch, self._queue = _split(self._queue, self._max)
            self._running += 1
            task = asyncio.create_task(self._commit(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _commit(self, batch: list[_Write]) -> None:
        storing = asyncio.ensure_future(self._store(batch))
        try:
            # The batch's place is given up once it is stored, or after one publish's
            # timeout: a write whose answer was lost (the server died under it) waits up to
            # SETTLE_S to learn whether it was stored, and must not hold back the writes
            # after it (which, the store away, fail at once).
            await asyncio.wait({storing}, timeout=self._timeout)
        except asyncio.CancelledError:  # the process is stopping
            storing.cancel()
            _fail_all(batch, StoreUnavailable("stopped before the write was stored"))
            raise
        finally:
            self._running -= 1
            self._schedule()
        try:
            await storing
        except Exception as e:  # never leave a write waiting for ever
            _fail_all(batch, e)
        except asyncio.CancelledError:  # the process is stopping
            _fail_all(batch, StoreUnavailable("stopped before the write was stored"))
            raise

    async def _store(self, batch: list[_Write]) -> None:
        if len(batch) > 1 and self._nc.is_connected:
            messages = [m for write in batch for m in write.messages]
            try:
                last = await publish_atomic(self._nc, messages, self._timeout)
            except BatchRefused as e:
                log.debug("group writer: %d writes made one by one: %s", len(batch), e)
            except StoreUnavailable as e:  # stored or not: unknown
                log.warning("group writer: %d writes unanswered, made again: %s", len(batch), e)
                await self._reconnected()
                end = asyncio.get_running_loop().time() + SETTLE_S
                await asyncio.gather(*(_alone(write, until=end) for write in batch))
                return
            else:
                self.batches += 1
                for write in reversed(batch):  # a batch's sequences are consecutive
                    _answer(write.done, last)
                    last -= len(write.messages)
                return
        await asyncio.gather(*(_alone(write) for write in batch))

    async def _reconnected(self) -> None:
        """Until the connection is up again, for at most SETTLE_S, as a lone append waits
        before it sends again a publish whose answer was lost (EventStore._publish): the
        batch's writes then go alone, each found stored or stored once."""
        loop = asyncio.get_running_loop()
        end = loop.time() + SETTLE_S
        while not self._nc.is_connected:
            if self._nc.is_closed or loop.time() >= end:
                return
            await asyncio.sleep(RECONNECT_POLL_S)  # nats-py has no reconnect to await


async def _alone(write: _Write, *, until: float | None = None) -> None:
    """`write` made alone, answered as that goes. With `until` (loop time), its batch's
    outcome is unknown: an unavailable store does not make it known (the batch may be
    stored), so the write is made again, every UNREACHABLE_RETRY_S, until it is answered
    or `until` passes."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            _answer(write.done, await write.alone())
            return
        except StoreUnavailable as e:
            if until is None or loop.time() >= until:
                _fail(write.done, e)
                return
        except Exception as e:
            _fail(write.done, e)
            return
        await asyncio.sleep(UNREACHABLE_RETRY_S)


def _split(queue: list[_Write], most: int) -> tuple[list[_Write], list[_Write]]:
    """The next batch (in order, up to `most` messages unless one write alone has more,
    each key once) and what stays queued."""
    batch: list[_Write] = []
    rest: list[_Write] = []
    keys: set[str] = set()
    size = 0
    for write in queue:
        fits = not batch or size + len(write.messages) <= most
        if fits and write.key not in keys and not rest:
            keys.add(write.key)
            batch.append(write)
            size += len(write.messages)
        else:
            rest.append(write)
    return batch, rest


def _fail_all(batch: list[_Write], error: Exception) -> None:
    for write in batch:
        _fail(write.done, error)


def _answer(future: asyncio.Future[int], seq: int) -> None:
    if not future.done():
        future.set_result(seq)


def _fail(future: asyncio.Future[int], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
