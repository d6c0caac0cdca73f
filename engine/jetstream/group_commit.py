"""Group commit of job creations: concurrent creates' events appended as one atomic batch.

With `sync_interval: always` every JetStream write waits for a disk sync; an atomic batch is
written, synced and acknowledged once, whoever's events it holds. Creates arriving while a
batch is on its way (or in the same event-loop turn as the first) are gathered and go in the
next batch: nothing waits on a timer, a create on an idle system goes at once, alone.

Durability and answers stay those of a create appended alone: each event carries the sequence
check "no event of this job yet"; a create is answered with its own sequence only once the
batch holding it is stored and acknowledged. When a batch is refused as a whole (one of its
jobs exists already) or its outcome is unknown (once the connection is back, if it broke),
each of its creates is appended again alone, and is answered as that append is; a create
found stored by the batch (its own event, by event id) is answered with that event's
sequence, so a lost acknowledgement never turns a create into a conflict, and no event is
stored twice (the sequence check refuses a second).
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NATS

from engine.domain.events import JobCreated, subject_of
from engine.domain.ids import job_token
from engine.jetstream.atomic import BatchRefused, Message, publish_atomic
from engine.jetstream.errors import ConcurrencyConflict, StoreUnavailable
from engine.jetstream.store import RECONNECT_POLL_S, SETTLE_S, EventStore

log = logging.getLogger(__name__)

MAX_BATCH = 100  # events per batch, well below the server's limit on an atomic batch (1000)
IN_FLIGHT = 4  # batches on their way at once: more are gathered while these are stored
_Pending = tuple[JobCreated, "asyncio.Future[int]"]


class GroupCommit:
    """Appends `created` events of new jobs (`create`), gathering concurrent ones in
    atomic batches. One per process and event loop, shared by everything that creates."""

    def __init__(
        self, nc: NATS, store: EventStore, *, timeout: float = 5.0, max_batch: int = MAX_BATCH,
        in_flight: int = IN_FLIGHT,
    ) -> None:  # fmt: skip
        self._nc = nc
        self._store = store
        self._timeout = timeout
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._queue: list[_Pending] = []
        self._running = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # batches stored whole, for tests and metrics

    async def create(self, event: JobCreated) -> int:
        """Append the first event of a new job; its sequence. ConcurrencyConflict when the
        job has events already, StoreUnavailable as `EventStore.append`."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((event, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        """Launch what is queued once this loop turn's other creates have joined it."""
        if not self._scheduled and self._queue and self._running < self._in_flight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._launch)

    def _launch(self) -> None:
        self._scheduled = False
        while self._queue and self._running < self._in_flight:
            batch, self._queue = _split(self._queue, self._max_batch)
            self._running += 1
            task = asyncio.create_task(self._commit(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            await self._append(batch)
        except Exception as e:  # never leave a create waiting for ever
            for _, future in batch:
                _fail(future, e)
        except asyncio.CancelledError:  # the process is stopping
            for _, future in batch:
                _fail(future, StoreUnavailable("stopped before the create was appended"))
            raise
        finally:
            self._running -= 1
            self._schedule()

    async def _append(self, batch: list[_Pending]) -> None:
        """The batch stored whole, each create answered with its sequence; else each alone."""
        if len(batch) > 1 and self._nc.is_connected:
            try:
                last = await publish_atomic(self._nc, self._messages(batch), self._timeout)
            except BatchRefused as e:
                log.debug("group commit: batch of %d appended one by one: %s", len(batch), e)
            except StoreUnavailable as e:  # stored or not: unknown
                log.warning("group commit: batch of %d unanswered, sent again: %s", len(batch), e)
                await self._reconnected()
            else:
                self.batches += 1
                for i, (_, future) in enumerate(batch):  # a batch's sequences are consecutive
                    _answer(future, last - (len(batch) - 1 - i))
                return
        await asyncio.gather(*(self._alone(event, future) for event, future in batch))

    async def _reconnected(self) -> None:
        """Until the connection is up again, for at most SETTLE_S, as a lone append waits
        before it sends a publish whose answer was lost again (EventStore._publish): the
        batch's creates then go alone, each found stored or stored once."""
        loop = asyncio.get_running_loop()
        end = loop.time() + SETTLE_S
        while not self._nc.is_connected:
            if self._nc.is_closed or loop.time() >= end:
                return
            await asyncio.sleep(RECONNECT_POLL_S)  # nats-py has no reconnect to await

    def _messages(self, batch: list[_Pending]) -> list[Message]:
        # Ids of their own (not the event id a lone append uses): whether a batch was stored
        # is then never read from the duplicate window; a create appended alone after it is
        # judged by its sequence check and its event id (see `_alone`).
        return [
            (subject_of(event), self._store.codec.encode(event), {
                "Nats-Msg-Id": f"{event.event_id}:g",
                "Nats-Expected-Last-Subject-Sequence": "0",
                "Nats-Expected-Last-Subject-Sequence-Subject": f"jobs.{job_token(event.job_id)}.*",
            })
            for event, _ in batch
        ]  # fmt: skip

    async def _alone(self, event: JobCreated, future: asyncio.Future[int]) -> None:
        seq: int | None
        try:
            seq = await self._store.append([event], expected=0)
        except ConcurrencyConflict as e:
            seq = await self._stored_by_us(event)
            if seq is None:
                _fail(future, e)
                return
        except Exception as e:
            _fail(future, e)
            return
        _answer(future, seq)

    async def _stored_by_us(self, event: JobCreated) -> int | None:
        """The sequence of `event` if the job's first event is this very event (a batch
        stored it, its acknowledgement was lost); None when another create made the job."""
        history = await self._store.history(event.job_id)
        first = history[0] if history else None
        if first is not None and first.event.event_id == event.event_id:
            return first.seq
        return None


def _split(queue: list[_Pending], most: int) -> tuple[list[_Pending], list[_Pending]]:
    """The next batch (up to `most`, in order, each job once) and what stays queued.

    A second create of one job waits for a later batch: within a batch the server checks
    each event against the log before the batch, so two firsts of one job would both pass.
    """
    batch: list[_Pending] = []
    rest: list[_Pending] = []
    jobs: set[str] = set()
    for pending in queue:
        job_id = pending[0].job_id
        if len(batch) < most and job_id not in jobs:
            jobs.add(job_id)
            batch.append(pending)
        else:
            rest.append(pending)
    return batch, rest


def _answer(future: asyncio.Future[int], seq: int) -> None:
    if not future.done():
        future.set_result(seq)


def _fail(future: asyncio.Future[int], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
