"""Group commit of creates against a real JetStream: concurrent creates share atomic
batches, each answered with its own event's sequence; a refused batch or a lost answer
never changes what each create is told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import pytest
from nats.aio.client import Client as NATS

from engine.domain.commands import CreateJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope
from engine.domain.events import Codec, JobCreated
from engine.jetstream.batching import GroupWriter
from engine.jetstream.errors import ConcurrencyConflict, StoreUnavailable
from engine.jetstream.group_commit import GroupCommit
from engine.jetstream.store import EventStore
from engine.service import new_id


def created(job_id: str | None = None) -> JobCreated:
    """A new job's created event, as a create decides it."""
    command = CreateJob(
        **command_envelope(job_id or new_id(), "u"), user_id="u", type=3, priority=1,
        params={"urls": ["https://example.com/"]}, title="t",
    )  # fmt: skip
    [event] = decide(None, command)
    assert isinstance(event, JobCreated)
    return event


@pytest.fixture
async def store(nc: NATS) -> AsyncIterator[EventStore]:
    store = EventStore(nc, Codec())
    await store.ensure()
    yield store


async def first_stored(store: EventStore, event: JobCreated) -> tuple[int, str]:
    [stored] = await store.history(event.job_id)
    return stored.seq, stored.event.event_id


async def test_concurrent_creates_share_batches_each_answered_with_its_sequence(
    nc: NATS, store: EventStore
) -> None:
    group = GroupCommit(nc, store)
    events = [created() for _ in range(60)]
    seqs = await asyncio.gather(*(group.create(e) for e in events))
    assert 1 <= group.batches < len(events)  # created in the same loop turn: grouped
    assert sorted(seqs) == list(range(1, len(events) + 1))  # each stored once, nothing more
    for event, seq in zip(events, seqs, strict=True):
        assert await first_stored(store, event) == (seq, event.event_id)


async def test_a_lone_create_goes_at_once_alone(nc: NATS, store: EventStore) -> None:
    group = GroupCommit(nc, store)
    event = created()
    seq = await group.create(event)
    assert group.batches == 0 and await first_stored(store, event) == (seq, event.event_id)


async def test_one_existing_job_in_a_batch_fails_alone(nc: NATS, store: EventStore) -> None:
    group = GroupCommit(nc, store)
    taken = created()
    await store.append([taken], expected=0)
    again = created(taken.job_id)  # another create of the same job: a conflict
    events = [created() for _ in range(5)]
    outcomes = await asyncio.gather(
        *(group.create(e) for e in [*events[:2], again, *events[2:]]), return_exceptions=True
    )
    assert isinstance(outcomes[2], ConcurrencyConflict)
    assert group.batches == 0  # the batch was refused whole; each went alone
    for event, seq in zip(events, [*outcomes[:2], *outcomes[3:]], strict=True):
        assert await first_stored(store, event) == (seq, event.event_id)
    assert await first_stored(store, taken) == (1, taken.event_id)


async def test_a_create_already_stored_by_its_batch_is_answered_with_its_sequence(
    nc: NATS, store: EventStore
) -> None:
    """As when a batch was stored but its answer was lost: the create appended again is
    refused by its sequence check, found stored (its own event) and answered, not refused."""
    group = GroupCommit(nc, store)
    event = created()
    seq = await store.append([event], expected=0)
    assert await group.create(event) == seq
    assert len(await store.history(event.job_id)) == 1


async def test_two_creates_of_one_job_in_a_batch_store_one(nc: NATS, store: EventStore) -> None:
    """Two requests racing with one Idempotency-Key create the same job id at once."""
    group = GroupCommit(nc, store)
    first, second = created(), created()
    second = created(first.job_id)
    others = [created() for _ in range(3)]
    outcomes = await asyncio.gather(
        *(group.create(e) for e in [first, *others, second]), return_exceptions=True
    )
    conflicts = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
    assert len(conflicts) == 1 and len(await store.history(first.job_id)) == 1
    for event, seq in zip(others, outcomes[1:4], strict=True):
        assert await first_stored(store, event) == (seq, event.event_id)


async def test_a_batch_whose_answer_is_lost_answers_each_create_with_its_sequence(
    nc: NATS, store: EventStore
) -> None:
    """A timeout too short for any answer: each batch is sent, its answer never awaited long
    enough; its creates, appended again alone, are found stored (or stored) once each."""
    group = GroupCommit(nc, store, timeout=1e-6)
    events = [created() for _ in range(10)]
    seqs = await asyncio.gather(*(group.create(e) for e in events))
    assert group.batches == 0
    for event, seq in zip(events, seqs, strict=True):
        assert await first_stored(store, event) == (seq, event.event_id)


async def test_after_a_lost_answer_an_unavailable_store_is_asked_again(
    nc: NATS, store: EventStore
) -> None:
    """A batch whose answer is lost may be stored: when the writes made again alone find the
    store unavailable (a stream electing its leader), they are made again until answered,
    never failed while the batch may hold them."""
    writer, group = GroupWriter(nc, timeout=1e-6), GroupCommit(nc, store)
    events = [created() for _ in range(5)]
    refusals = dict.fromkeys((e.job_id for e in events), 2)  # each alone refused twice

    def write(event: JobCreated) -> Awaitable[int]:
        async def alone() -> int:
            if refusals[event.job_id]:
                refusals[event.job_id] -= 1
                raise StoreUnavailable("no leader yet")
            return await group._alone(event)

        return writer.write(event.job_id, [group._message(event)], alone)

    seqs = await asyncio.gather(*(write(e) for e in events))
    assert not any(refusals.values())  # each was refused, then asked again
    for event, seq in zip(events, seqs, strict=True):
        assert await first_stored(store, event) == (seq, event.event_id)


@pytest.mark.parametrize("lost", [1, 3])
async def test_a_write_whose_answer_is_lost_does_not_hold_back_the_writes_after_it(
    nc: NATS, store: EventStore, lost: int
) -> None:
    """One batch on its way at a time: while a write (alone, or in a batch) whose answer
    was lost waits for the store to say whether it holds it, a later write is made and
    answered (during an outage it fails at once with a 503 instead of waiting behind)."""
    writer, group = GroupWriter(nc, timeout=1e-6, in_flight=1), GroupCommit(nc, store)
    settling, store_back = asyncio.Event(), asyncio.Event()

    def write(event: JobCreated, *, held: bool) -> Awaitable[int]:
        async def alone() -> int:
            if held:  # the store answers these writes only once it is back
                settling.set()
                await store_back.wait()
            return await group._alone(event)

        return writer.write(event.job_id, [group._message(event)], alone)

    events = [created() for _ in range(lost)]
    waiting = asyncio.gather(*(write(e, held=True) for e in events))
    await asyncio.wait_for(settling.wait(), 5)
    later = created()
    seq = await asyncio.wait_for(write(later, held=False), 5)  # not behind the lost ones
    assert await first_stored(store, later) == (seq, later.event_id)
    assert not waiting.done()
    store_back.set()
    for event, seq in zip(events, await waiting, strict=True):
        assert await first_stored(store, event) == (seq, event.event_id)
