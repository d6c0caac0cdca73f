"""Multi-event commands against a busy worker: never half-applied, never swallowed.

A delete of a running job is two events (cancel requested, deleted). When the worker appends
between a command's load and its append, the command is decided again; its events must all
land, each once, however often that happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nats.aio.client import Client as NATS

from engine.domain.commands import CancelJob, CreateJob, DeleteJob, StartJob
from engine.domain.envelope import command_envelope, event_envelope
from engine.domain.events import Codec, Event, LogWritten
from engine.jetstream.errors import ConcurrencyConflict
from engine.jetstream.store import EventStore
from engine.service import JobService, new_id

ROUNDS = 300


class CountingStore(EventStore):
    """The real store, counting the appends another writer beat (so the test knows it raced)."""

    conflicts = 0

    async def append(self, events: Sequence[Event], expected: int | None) -> int:
        try:
            return await super().append(events, expected)
        except ConcurrencyConflict:
            self.conflicts += 1
            raise


async def _busy_worker(store: EventStore, job_id: str, stop: asyncio.Event, burst: int) -> int:
    """Append up to `burst` log lines to the job, one after another as fast as the store takes
    them, until `stop`; how many. (Unbounded, a writer this fast would starve every command:
    real workers append in batches, with room between them.)"""
    n = 0
    while not stop.is_set() and n < burst:
        line = LogWritten(**event_envelope(job_id, "w1"), message="x")
        await store.append_unchecked(line)
        n += 1
    return n


async def _running_job(service: JobService) -> str:
    job_id = new_id()
    env = command_envelope(job_id, "u1")
    await service.execute(CreateJob(**env, user_id="u1", type=50, priority=1))
    await service.execute(StartJob(**command_envelope(job_id, "w1"), worker_id="w1"))
    return job_id


async def _race(service: JobService, command: DeleteJob | CancelJob, burst: int) -> int:
    stop = asyncio.Event()
    writer = asyncio.create_task(_busy_worker(service.store, command.job_id, stop, burst))
    await asyncio.sleep(0)  # let the writer start appending before the command loads
    try:
        await service.execute(command)
    finally:
        stop.set()
    return await writer


async def test_delete_and_cancel_of_a_busy_job_always_land_whole(nc: NATS) -> None:
    store = CountingStore(nc, Codec())
    await store.ensure()
    service = JobService(store)
    written = 0
    for i in range(ROUNDS):
        job_id = await _running_job(service)
        if i % 3 == 0:  # a cancel first, then the delete has only its own event left to add
            written += await _race(service, CancelJob(**command_envelope(job_id, "u1")), 1 + i % 5)
        written += await _race(service, DeleteJob(**command_envelope(job_id, "u1")), 1 + i % 7)
        state = await store.load(job_id)
        assert state is not None
        assert state.deleted, f"round {i}: the delete answered but the job is not deleted"
        assert state.cancel_requested, f"round {i}: the delete did not stop the running job"
        kinds = [type(s.event).__name__ for s in await store.history(job_id)]
        assert kinds.count("JobDeleted") == 1 and kinds.count("CancelRequested") == 1
    assert written > ROUNDS, "the worker never appended: nothing was raced"
    assert store.conflicts > 0, "no command ever met a concurrent append: nothing was raced"
