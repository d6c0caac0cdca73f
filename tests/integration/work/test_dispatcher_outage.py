"""A store outage in the middle of a reaction is retried, not mistaken for "already done"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from nats.aio.client import Client as NATS

from engine.dispatcher import Dispatcher, open_dependents
from engine.domain.batches import child_ids
from engine.domain.commands import CreateJob, FinishJob, StartJob
from engine.domain.envelope import command_envelope
from engine.domain.events import Codec, Event
from engine.domain.model import JobStatus, JobType
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.store import EventStore
from engine.jetstream.work import ensure_work
from engine.service import JobService, new_id
from tests.support import wait_until


class FlakyStore(EventStore):
    """The real event store, except that its `fail_at`-th append raises StoreUnavailable once
    (storing nothing), as a JetStream that did not answer in time."""

    def __init__(self, nc: NATS, codec: Codec, *, fail_at: int) -> None:
        super().__init__(nc, codec)
        self.fail_at = fail_at
        self.appends = 0
        self.failed: list[str] = []

    async def append(self, events: Sequence[Event], expected: int | None) -> int:
        self.appends += 1
        if self.appends == self.fail_at:
            self.failed.append(events[0].job_id)
            raise StoreUnavailable("no answer from JetStream (injected)")
        return await super().append(events, expected)


@pytest.fixture
async def store(nc: NATS) -> EventStore:
    """The plain event store, JOBS and WORK ready: what the test itself writes with."""
    store = EventStore(nc, Codec())
    await store.ensure()
    await ensure_work(nc.jetstream())
    return store


@pytest.fixture
async def flaky(nc: NATS, store: EventStore) -> AsyncIterator[FlakyStore]:
    """A dispatcher running on a FlakyStore whose second append (the second child) fails."""
    flaky = FlakyStore(nc, store.codec, fail_at=2)
    dispatcher = Dispatcher(nc, JobService(flaky), await open_dependents(nc))
    await dispatcher.start()
    try:
        yield flaky
    finally:
        await dispatcher.stop()


async def test_an_outage_while_a_batch_spawns_retries_until_every_child_exists(
    store: EventStore, flaky: FlakyStore
) -> None:
    service = JobService(store)
    urls = [f"http://127.0.0.1:9/page/{n}" for n in range(4)]
    batch = CreateJob(
        **command_envelope(new_id(), "test"), user_id="u", type=int(JobType.NOVEL_BATCH),
        priority=1, params={"urls": urls}, total=len(urls),
    )  # fmt: skip
    await service.execute(batch)
    children = child_ids(batch.job_id, len(urls))

    async def running() -> bool:
        parent = await store.load(batch.job_id)
        return parent is not None and parent.status == JobStatus.RUNNING

    await wait_until(running, timeout=30)
    assert flaky.failed == [children[1]]  # the outage hit the second child's creation
    assert [await store.load(cid) is not None for cid in children] == [True] * len(urls)

    for cid in children:  # each child runs and succeeds, as a worker would have it
        await service.execute(StartJob(**command_envelope(cid, "w"), worker_id="w"))
        await service.execute(FinishJob(**command_envelope(cid, "w"), ok=True))

    async def finished() -> bool:
        parent = await store.load(batch.job_id)
        return parent is not None and parent.is_done

    await wait_until(finished, timeout=30)
    parent = await store.load(batch.job_id)
    assert parent is not None and parent.status == JobStatus.SUCCESS
    assert sorted(parent.children) == children
