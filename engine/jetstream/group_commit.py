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
stored twice (the sequence check refuses a second). The gathering is the worker's
(engine/jetstream/batching.py): a create is a write of one message keyed by its job, so two
creates of one job never share a batch (the server checks each event against the log as it
was before the batch, so both would pass).
"""

from __future__ import annotations

from nats.aio.client import Client as NATS

from engine.domain.events import JobCreated, subject_of
from engine.domain.ids import job_token
from engine.jetstream.atomic import Message
from engine.jetstream.batching import GroupWriter
from engine.jetstream.errors import ConcurrencyConflict
from engine.jetstream.store import EventStore

MAX_BATCH = 100  # events per batch, well below the server's limit on an atomic batch (1000)
IN_FLIGHT = 1  # batches on their way at once: the server syncs batches one by one (decisions.md)


class GroupCommit:
    """Appends `created` events of new jobs (`create`), gathering concurrent ones in
    atomic batches. One per process and event loop, shared by everything that creates."""

    def __init__(
        self, nc: NATS, store: EventStore, *, timeout: float = 5.0, max_batch: int = MAX_BATCH,
        in_flight: int = IN_FLIGHT,
    ) -> None:  # fmt: skip
        self._store = store
        self._writer = GroupWriter(nc, timeout=timeout, max_messages=max_batch, in_flight=in_flight)

    @property
    def batches(self) -> int:
        """Batches of several creates stored whole (for tests and metrics)."""
        return self._writer.batches

    async def create(self, event: JobCreated) -> int:
        """Append the first event of a new job; its sequence. ConcurrencyConflict when the
        job has events already, StoreUnavailable as `EventStore.append`."""
        return await self._writer.write(
            event.job_id, [self._message(event)], lambda: self._alone(event)
        )

    def _message(self, event: JobCreated) -> Message:
        # An id of its own (not the event id a lone append uses): whether a batch was stored
        # is then never read from the duplicate window; a create appended alone after it is
        # judged by its sequence check and its event id (see `_alone`).
        return (subject_of(event), self._store.codec.encode(event), {
            "Nats-Msg-Id": f"{event.event_id}:g",
            "Nats-Expected-Last-Subject-Sequence": "0",
            "Nats-Expected-Last-Subject-Sequence-Subject": f"jobs.{job_token(event.job_id)}.*",
        })  # fmt: skip

    async def _alone(self, event: JobCreated) -> int:
        try:
            return await self._store.append([event], expected=0)
        except ConcurrencyConflict:
            seq = await self._stored_by_us(event)
            if seq is None:
                raise
            return seq

    async def _stored_by_us(self, event: JobCreated) -> int | None:
        """The sequence of `event` if the job's first event is this very event (a batch
        stored it, its acknowledgement was lost); None when another create made the job."""
        history = await self._store.history(event.job_id)
        first = history[0] if history else None
        if first is not None and first.event.event_id == event.event_id:
            return first.seq
        return None
