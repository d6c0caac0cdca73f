"""The dispatcher takes a burst of creates in batches: one work item per job, each event
acked once its item is stored, the same item stored once however often it is sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from engine.dispatcher import DISPATCHER, Dispatcher, open_dependents
from engine.domain.batches import child_id
from engine.domain.commands import CreateJob, FinishJob, StartJob
from engine.domain.envelope import command_envelope
from engine.domain.events import Codec, JobCreated
from engine.domain.model import JobStatus, JobType
from engine.jetstream.group_commit import GroupCommit
from engine.jetstream.store import JOBS_STREAM, EventStore
from engine.jetstream.work import WORK_STREAM, WorkItem, consumer_name, enqueue, ensure_work
from engine.service import JobService, new_id
from tests.integration.work.helpers import scrape
from tests.support import consumer_idle, wait_until

BURST = 300


@contextlib.asynccontextmanager
async def dispatching(nc: NATS, store: EventStore) -> AsyncIterator[JobService]:
    """A JobService on `store` grouping creates, with a dispatcher running on JOBS."""
    await store.ensure()
    await ensure_work(nc.jetstream())
    service = JobService(store, creates=GroupCommit(nc, store).create)
    dispatcher = Dispatcher(nc, service, await open_dependents(nc))
    await dispatcher.start()
    try:
        yield service
    finally:
        await dispatcher.stop()


@pytest.fixture
async def service(nc: NATS) -> AsyncIterator[JobService]:
    async with dispatching(nc, EventStore(nc, Codec())) as service:
        yield service


async def work_items(nc: NATS, count: int) -> list[WorkItem]:
    """The first `count` items of the normal lane, left there (not acked)."""
    sub = await nc.jetstream().pull_subscribe_bind(consumer_name("normal"), WORK_STREAM)
    items: list[WorkItem] = []
    while len(items) < count:
        msgs = await sub.fetch(count - len(items), timeout=5)
        items += [msgspec.json.decode(m.data, type=WorkItem) for m in msgs]
    await sub.unsubscribe()
    return items


async def test_a_burst_of_creates_makes_one_work_item_each(nc: NATS, service: JobService) -> None:
    outcomes = await asyncio.gather(*(service.execute(scrape()) for _ in range(BURST)))
    js = nc.jetstream()
    await wait_until(lambda: consumer_idle(js, DISPATCHER))
    assert (await js.stream_info(WORK_STREAM)).state.messages == BURST
    expected = {(o.state.id, o.seq) for o in outcomes if o.state is not None}
    items = await work_items(nc, BURST)
    assert {(i.job_id, i.trigger) for i in items} == expected and len(expected) == BURST


async def test_a_reaction_repeated_stores_its_work_item_once(nc: NATS, service: JobService) -> None:
    outcome = await service.execute(scrape())
    [stored] = await service.store.history(outcome.state.id if outcome.state else "")
    dispatcher = Dispatcher(nc, service, await open_dependents(nc))  # not started: by hand
    for _ in range(3):  # as a redelivery would
        await dispatcher.react(stored.seq, stored.event)
    [item] = await work_items(nc, 1)
    assert (item.job_id, item.trigger) == (stored.event.job_id, stored.seq)
    assert (await nc.jetstream().stream_info(WORK_STREAM)).state.messages == 1


async def test_a_batch_holding_an_item_stored_before_stores_the_others(
    nc: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    """A redelivered burst: one item was stored by an earlier delivery. The batch holding it
    is refused whole; each item then goes alone, the stored one deduplicated, and every
    event is acked."""
    store = EventStore(nc, Codec())
    await store.ensure()
    await ensure_work(nc.jetstream())
    service = JobService(store)
    outcomes = [await service.execute(scrape()) for _ in range(3)]
    first = outcomes[0]
    assert first.state is not None
    js = nc.jetstream()
    await enqueue(js, first.state.id, first.state.priority, first.seq)
    sub = await js.pull_subscribe("jobs.*.created", "t", stream=JOBS_STREAM)
    msgs = await sub.fetch(3, timeout=5)
    with caplog.at_level(logging.DEBUG, logger="engine.dispatcher"):
        await Dispatcher(nc, service, await open_dependents(nc)).handle_batch(msgs)
    assert "3 work items sent one by one" in caplog.text  # the batch was refused
    items = await work_items(nc, 3)
    assert {(i.job_id, i.trigger) for i in items} == {
        (o.state.id, o.seq) for o in outcomes if o.state is not None
    }
    assert (await js.stream_info(WORK_STREAM)).state.messages == 3
    info = await js.consumer_info(JOBS_STREAM, "t")
    assert info.num_ack_pending == 0 and info.num_pending == 0


class CountingStore(EventStore):
    """The event store, counting the reads of a job's creation."""

    reads_of_created = 0

    async def created(self, job_id: str) -> JobCreated | None:
        self.reads_of_created += 1
        return await super().created(job_id)


async def test_a_job_whose_creation_it_took_ends_without_reading_the_creation_again(
    nc: NATS,
) -> None:
    """The end of a job reads its creation (has it a parent, children, dependents?); the
    dispatcher that took the creation keeps it, so a plain job's end costs no read."""
    store = CountingStore(nc, Codec())
    async with dispatching(nc, store) as service:
        jobs = [scrape() for _ in range(20)]
        for job in jobs:
            await service.execute(job)
        for job in jobs:
            envelope = command_envelope(job.job_id, "w")
            await service.execute(StartJob(**envelope, worker_id="w"))
            await service.execute(FinishJob(**command_envelope(job.job_id, "w"), ok=True))
        js = nc.jetstream()

        async def settled() -> bool:
            info = await js.consumer_info(JOBS_STREAM, DISPATCHER)
            return (info.num_pending, info.num_ack_pending) == (0, 0)

        await wait_until(settled)
        assert store.reads_of_created == 0


class CountingDispatcher(Dispatcher):
    """The dispatcher, counting its reads of the dependents bucket and how many of them were
    on their way at once."""

    reads = 0
    at_once = 0
    _now = 0
    batched: tuple[int, ...] = ()  # the keys of each read of many at once

    async def _read_all_dependents(self, ids: list[str]) -> dict[str, list[str]]:
        self.batched += (len(ids),)
        return await super()._read_all_dependents(ids)

    async def _read_dependents(self, dep_id: str) -> list[str]:
        self.reads += 1
        self._now += 1
        self.at_once = max(self.at_once, self._now)
        try:
            return await super()._read_dependents(dep_id)
        finally:
            self._now -= 1


@pytest.mark.parametrize("one_request", [True, False], ids=["one server", "replicated"])
async def test_a_batch_of_ends_reads_their_dependents_at_once_and_releases_them(
    nc: NATS, one_request: bool
) -> None:
    """Ends taken together read the dependents bucket together (one batched direct get on
    one server, key by key at once from a replicated bucket's leader), and each dependent is
    still released: one registered in an earlier batch, and one whose creation is in the same
    batch as its dependency's end (read in order, after the creation registered it)."""
    store = EventStore(nc, Codec())
    await store.ensure()
    await ensure_work(nc.jetstream())
    service = JobService(store)
    sub = await nc.jetstream().pull_subscribe(
        "jobs.*.*", "t", stream=JOBS_STREAM,
        config=ConsumerConfig(filter_subjects=["jobs.*.created", "jobs.*.succeeded"]),
    )  # fmt: skip
    dispatcher = CountingDispatcher(nc, service, await open_dependents(nc))  # by hand
    dispatcher._batched = one_request  # a replicated bucket answers no direct get
    jobs = [scrape() for _ in range(6)]
    early = waiting_on(jobs[0].job_id)
    for command in [*jobs, early]:
        await service.execute(command)
    await dispatcher.handle_batch(await sub.fetch(7, timeout=5))  # creations: `early` waits
    late = waiting_on(jobs[1].job_id)
    await service.execute(late)  # its creation comes with its dependency's end
    for job in jobs:
        await service.execute(StartJob(**command_envelope(job.job_id, "w"), worker_id="w"))
        await service.execute(FinishJob(**command_envelope(job.job_id, "w"), ok=True))
    dispatcher.reads = 0
    await dispatcher.handle_batch(await sub.fetch(7, timeout=5))
    items = await work_items(nc, 8)  # the six, and both dependents
    assert {early.job_id, late.job_id} <= {i.job_id for i in items}
    # every end but the one `late` waits on read ahead together; the first (early's
    # dependency) read again to release it; and the end `late` waits on read in order
    # (`late`, its dependency ended, went straight to work)
    if one_request:
        assert dispatcher.batched == (5,)
        assert dispatcher.reads == 1 + 1
    else:
        assert dispatcher.batched == ()
        assert dispatcher.at_once == 5
        assert dispatcher.reads == 5 + 1 + 1


def waiting_on(dep_id: str) -> CreateJob:
    return msgspec.structs.replace(scrape(), depends_on=dep_id)


class PublishCountingDispatcher(Dispatcher):
    """The dispatcher, recording how many work items each of its publishes held."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.publishes: list[int] = []

    async def _enqueue_all(self, created: Sequence[tuple[Msg, JobCreated]]) -> None:
        if created:
            self.publishes.append(len(created))
        await super()._enqueue_all(created)


async def test_ends_that_change_no_other_job_do_not_split_a_batch_of_work_items(
    nc: NATS,
) -> None:
    """Creations and ends of small jobs come interleaved; an end whose job has no parent,
    children or dependents is only acked, so the creations around it share one publish.
    An end that releases a dependent still comes after the items created before it."""
    store = EventStore(nc, Codec())
    await store.ensure()
    await ensure_work(nc.jetstream())
    service = JobService(store)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "jobs.*.*", "t", stream=JOBS_STREAM,
        config=ConsumerConfig(filter_subjects=["jobs.*.created", "jobs.*.succeeded"]),
    )  # fmt: skip
    dispatcher = PublishCountingDispatcher(nc, service, await open_dependents(nc))  # by hand
    plain, awaited = scrape(), scrape()
    dependent = waiting_on(awaited.job_id)
    for command in (plain, awaited, dependent):
        await service.execute(command)
    await dispatcher.handle_batch(await sub.fetch(3, timeout=5))
    dispatcher.publishes.clear()

    later = [scrape() for _ in range(4)]
    await service.execute(later[0])
    await finish(service, plain.job_id)  # changes no other job
    await service.execute(later[1])
    await service.execute(later[2])
    await finish(service, awaited.job_id)  # releases `dependent`
    await service.execute(later[3])
    msgs = await sub.fetch(6, timeout=5)
    assert len(msgs) == 6
    await dispatcher.handle_batch(msgs)

    # later[0..2] together (the quiet end between them), then `dependent` alone, released
    # by its dependency's end in order, then later[3]
    assert dispatcher.publishes == [3, 1]
    items = await work_items(nc, 7)
    wanted = [plain, awaited, dependent, *later]
    assert {i.job_id for i in items} == {c.job_id for c in wanted}
    info = await js.consumer_info(JOBS_STREAM, "t")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def finish(service: JobService, job_id: str) -> None:
    await service.execute(StartJob(**command_envelope(job_id, "w"), worker_id="w"))
    await service.execute(FinishJob(**command_envelope(job_id, "w"), ok=True))


async def test_a_batchs_children_are_created_in_group_commits_in_order(nc: NATS) -> None:
    """A batch of 150 children is made in two atomic batches (100, then 50), not 150 appends
    one after another; the log holds them in index order."""
    store = EventStore(nc, Codec())
    await store.ensure()
    await ensure_work(nc.jetstream())
    group = GroupCommit(nc, store)
    service = JobService(store, creates=group.create)
    dispatcher = Dispatcher(nc, service, await open_dependents(nc))
    urls = [f"http://127.0.0.1:9/novel-{i}" for i in range(150)]
    batch = CreateJob(
        **command_envelope(new_id(), "u"), user_id="u", type=int(JobType.NOVEL_BATCH),
        priority=1, params={"urls": urls, "sources": dict.fromkeys(urls, "novelfull")},
        title="t", total=len(urls),
    )  # fmt: skip
    await service.execute(batch)
    await dispatcher.start()
    try:
        ids = [child_id(batch.job_id, i) for i in range(len(urls))]
        await wait_until(lambda: _all_created(store, ids), timeout=20)
    finally:
        await dispatcher.stop()
    assert group.batches == 2
    seqs = [(await store.history(i))[0].seq for i in ids]
    assert seqs == sorted(seqs)
    assert (await store.load(batch.job_id)).status == JobStatus.RUNNING  # type: ignore[union-attr]


async def _all_created(store: EventStore, ids: Sequence[str]) -> bool:
    return all([await store.created(i) is not None for i in ids])
