"""Appends racing each other on a real nats-server: order, sequence checks, idempotency.

Writers run at once (asyncio.gather) on several connections, so the server, not one
socket's byte order, decides who comes first. What is read back from the log must hold:

- each writer's events in the order it appended them, an atomic batch at consecutive stream
  sequences (whole, nothing between), each event once;
- of appends racing on one expected sequence, exactly one stored, the others refused with
  ConcurrencyConflict and nothing of theirs stored; commands racing through JobService all
  applied once, the job as if they had run one after another;
- an event, a message id or a batch sent again (at once or later) stored once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from engine.domain.commands import AnyCommand, CancelJob, CreateJob, RecordChild, StartJob
from engine.domain.envelope import command_envelope, event_envelope
from engine.domain.eventlog import EventLog
from engine.domain.events import (
    ChildFinished,
    Codec,
    Event,
    LogWritten,
    ProgressReported,
)
from engine.domain.model import JobStatus, JobType
from engine.domain.state import JobState
from engine.jetstream.errors import ConcurrencyConflict
from engine.jetstream.recorder import MAX_BATCH, Recorder
from engine.jetstream.store import EventStore, wait_for_jetstream
from engine.memory_log import MemoryEventLog
from engine.service import JobService, new_id

CONNECTIONS = 4
AT = 1_700_000_000_000  # one time for every command and event the fold comparisons see
examples = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
async def stores(nats_url: str) -> AsyncIterator[list[EventStore]]:
    """An EventStore on each of CONNECTIONS connections to one server, JOBS made."""
    conns: list[NATS] = [await wait_for_jetstream(nats_url) for _ in range(CONNECTIONS)]
    out = [EventStore(nc, Codec()) for nc in conns]
    await out[0].ensure()
    yield out
    for nc in conns:
        await nc.close()


def _line(job_id: str, message: str) -> LogWritten:
    return LogWritten(**event_envelope(job_id, "t"), message=message)


def _outcomes(results: Sequence[int | BaseException]) -> tuple[list[int], list[int]]:
    """Indexes of the appends that were stored and of those refused as conflicts; anything
    else an append raised fails the test."""
    others = [r for r in results if isinstance(r, BaseException)]
    unexpected = [r for r in others if not isinstance(r, ConcurrencyConflict)]
    assert not unexpected, unexpected
    stored = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    refused = [i for i, r in enumerate(results) if isinstance(r, ConcurrencyConflict)]
    return stored, refused


async def _seqs(store: EventStore, job_id: str) -> dict[str, int]:
    """Where each of the job's events is in the log, by event id; an event twice fails."""
    history = await store.history(job_id)
    assert all(s.event.job_id == job_id for s in history)
    where = {s.event.event_id: s.seq for s in history}
    assert len(where) == len(history), "an event stored twice"
    return where


def _assert_whole_at(where: dict[str, int], chunk: Sequence[Event], last: int) -> None:
    """`chunk` is stored at consecutive sequences ending at `last` (the append's answer)."""
    assert [where.get(e.event_id) for e in chunk] == list(range(last - len(chunk) + 1, last + 1))


# --- per-job order -------------------------------------------------------------------------

# an append: how many events (1: one event, more: one atomic batch), and whether one event
# goes through append_unchecked rather than append(expected=None)
appends = st.tuples(st.integers(1, 5), st.booleans())
writers = st.lists(appends, min_size=1, max_size=4)
job_plans = st.lists(st.lists(writers, min_size=1, max_size=4), min_size=1, max_size=3)
Chunk = tuple[list[Event], bool]


async def _write(store: EventStore, chunks: list[Chunk]) -> list[int]:
    """Append the chunks one after another; the sequence each append answered."""
    out = []
    for events, unchecked in chunks:
        if len(events) == 1 and unchecked:
            out.append(await store.append_unchecked(events[0]))
        else:
            out.append(await store.append(events, expected=None))
    return out


@examples
@given(job_plans)
async def test_concurrent_writers_keep_their_order_and_batches_whole(
    stores: list[EventStore], plan: list[list[list[tuple[int, bool]]]]
) -> None:
    """Several jobs, each with writers appending single events and atomic batches at once:
    a job's log holds each writer's events once, in its order, every batch whole and at the
    sequences its append answered."""
    jobs = [new_id() for _ in plan]
    work: list[tuple[str, list[Chunk]]] = [
        (job, [([_line(job, f"{w}.{c}.{i}") for i in range(n)], u) for c, (n, u) in enumerate(wr)])
        for job, job_writers in zip(jobs, plan, strict=True)
        for w, wr in enumerate(job_writers)
    ]
    answers = await asyncio.gather(
        *(_write(stores[k % CONNECTIONS], chunks) for k, (_, chunks) in enumerate(work))
    )
    where = {job: await _seqs(stores[0], job) for job in jobs}
    for job in jobs:
        written = [e for j, chunks in work if j == job for events, _ in chunks for e in events]
        assert set(where[job]) == {e.event_id for e in written}
    for (job, chunks), seqs in zip(work, answers, strict=True):
        order = [where[job][e.event_id] for events, _ in chunks for e in events]
        assert order == sorted(order), "a writer's events out of its order"
        for (events, _), last in zip(chunks, seqs, strict=True):
            _assert_whole_at(where[job], events, last)


# --- expected-sequence checks --------------------------------------------------------------


async def _last_seq(store: EventStore, job_id: str) -> int:
    history = await store.history(job_id)
    return history[-1].seq if history else 0


async def _busy(store: EventStore, job_id: str, lines: int, tag: str) -> None:
    """A worker appending `lines` log lines to the job, unchecked, one after another."""
    for n in range(lines):
        await store.append_unchecked(_line(job_id, f"{tag}.{n}"))


@examples
@given(
    st.integers(0, 3),
    st.lists(st.integers(1, 5), min_size=2, max_size=6),
    st.lists(st.integers(0, 2), max_size=4),
)
async def test_of_appends_racing_on_one_sequence_at_most_one_is_stored(
    stores: list[EventStore], before: int, sizes: list[int], busy: list[int]
) -> None:
    """Round after round, the appends not stored yet race on the job's last sequence, in the
    first rounds alongside a worker appending unchecked (`busy[round]` lines). A round
    stores at most one of them, whole, and exactly one when the worker wrote nothing; a
    refused one leaves nothing behind: a later round stores it, under the same event ids."""
    job = new_id()
    await _busy(stores[0], job, before, "before")
    left = {w: [_line(job, f"{w}.{i}") for i in range(n)] for w, n in enumerate(sizes)}
    stored_count, rounds = before, 0
    while left:
        assert rounds < len(sizes) + len(busy), "a round in which no append was stored"
        lines = busy[rounds] if rounds < len(busy) else 0
        version, racers = await _last_seq(stores[0], job), list(left)
        racing = asyncio.gather(
            *(stores[w % CONNECTIONS].append(left[w], version) for w in racers),
            return_exceptions=True,
        )
        results, _ = await asyncio.gather(racing, _busy(stores[-1], job, lines, f"r{rounds}"))
        stored, refused = _outcomes(results)
        assert len(stored) + len(refused) == len(racers)
        assert len(stored) == 1 if lines == 0 else len(stored) <= 1
        where = await _seqs(stores[0], job)
        for k in stored:
            winner, last = racers[k], results[k]
            assert isinstance(last, int)
            stored_count += len(left[winner])
            _assert_whole_at(where, left.pop(winner), last)
        stored_count += lines
        assert len(where) == stored_count  # nothing of the refused ones
        rounds += 1


def _record(job_id: str, child: str, status: int) -> RecordChild:
    return RecordChild(**command_envelope(job_id, "d", at=AT), child_id=child, status=status)


async def _running_parent(service: JobService, job_id: str, children: int) -> JobState:
    env = command_envelope(job_id, "u", command_id=job_id, at=AT)
    await service.execute(
        CreateJob(**env, user_id="u", type=JobType.SCRAPE_BATCH, priority=1, total=children)
    )
    start = StartJob(**command_envelope(job_id, "w", at=AT), worker_id="w")
    outcome = await service.execute(start)
    assert outcome.state is not None
    return outcome.state


async def _report_progress(log: EventLog, job_id: str, times: int, total: int) -> None:
    """A worker's progress, appended unchecked (while the commands race it)."""
    for n in range(times):
        event = ProgressReported(**event_envelope(job_id, "w", at=AT), done=n, total=total)
        await log.append_unchecked(event)


async def test_commands_racing_through_the_service_are_each_applied_once(
    stores: list[EventStore],
) -> None:
    """Ten children's results and a cancel, each sent twice at once (the same command, as a
    redelivery would), some decided on a stale job first, while the worker reports progress.
    Each conflict makes the service decide again: every command lands once, and the job
    equals the one the same commands make one after another."""
    services = [JobService(store) for store in stores]
    job, children, reports = new_id(), 10, 5
    started = await _running_parent(services[0], job, children)
    statuses = [JobStatus.FAILED if i % 3 == 0 else JobStatus.SUCCESS for i in range(children)]
    commands: list[AnyCommand] = [_record(job, new_id(), s) for s in statuses]
    commands.append(CancelJob(**command_envelope(job, "u", at=AT)))
    await asyncio.gather(
        *(
            services[(k + copy) % CONNECTIONS].execute(cmd, started if copy else None)
            for k, cmd in enumerate(commands)
            for copy in (0, 1)
        ),
        _report_progress(stores[0], job, reports, children),
    )
    history = await stores[0].history(job)
    assert len(await _seqs(stores[0], job)) == len(history)  # every event id once
    kinds = Counter(type(s.event) for s in history)
    assert kinds[ChildFinished] == children and kinds[ProgressReported] == reports
    finished = {s.event.child_id for s in history if isinstance(s.event, ChildFinished)}
    assert len(finished) == children

    memory = JobService(MemoryEventLog())
    await _running_parent(memory, job, children)
    for cmd in commands:
        await memory.execute(cmd)
    await _report_progress(memory.store, job, reports, children)
    got, want = await stores[0].load(job), await memory.store.load(job)
    assert got is not None and want is not None
    assert got.cancel_requested and got.done == children - 4 and got.failed == 4
    assert msgspec.structs.replace(got, version=0) == msgspec.structs.replace(want, version=0)


# --- idempotency ---------------------------------------------------------------------------


async def test_one_event_sent_at_once_and_again_later_is_stored_once(
    stores: list[EventStore],
) -> None:
    job = new_id()
    event = _line(job, "once")
    sends = [s.append([event], expected=None) for s in stores]
    sends += [s.append_unchecked(event) for s in stores]
    seqs = set(await asyncio.gather(*sends))
    assert len(seqs) == 1
    (seq,) = seqs
    assert await stores[1].append([event], expected=None) == seq
    assert await stores[2].append_unchecked(event) == seq
    assert [(s.seq, s.event) for s in await stores[0].history(job)] == [(seq, event)]

    # with a sequence check the check comes first: the copies that lose it conflict
    checked = _line(job, "checked")
    results = await asyncio.gather(
        *(s.append([checked], expected=seq) for s in stores for _ in (0, 1)),
        return_exceptions=True,
    )
    stored, refused = _outcomes(results)
    assert len(stored) == 1 and len(refused) == 2 * CONNECTIONS - 1
    assert [s.event for s in await stores[0].history(job)] == [event, checked]


async def test_one_message_id_from_two_tasks_stores_one_message(stores: list[EventStore]) -> None:
    """Two workers recording the same page (message id job:url:attempt), each its own event."""
    job = new_id()
    msg_id = f"{job}:https://site.test/p:1"
    pages = [_line(job, f"worker {w}") for w in range(CONNECTIONS)]
    seqs = await asyncio.gather(
        *(s.append_unchecked(page, msg_id=msg_id) for s, page in zip(stores, pages, strict=True))
    )
    assert len(set(seqs)) == 1
    history = await stores[0].history(job)
    assert len(history) == 1 and history[0].seq == seqs[0] and history[0].event in pages
    assert await stores[0].append_unchecked(_line(job, "later"), msg_id=msg_id) == seqs[0]
    assert len(await stores[0].history(job)) == 1


async def test_an_atomic_batch_sent_again_is_stored_once_and_refused_as_a_conflict(
    stores: list[EventStore],
) -> None:
    """A resent batch is refused whole (ConcurrencyConflict, the contract of a batch holding
    a stored id): the caller reloads and finds its events there."""
    job = new_id()
    batch = [_line(job, f"b{i}") for i in range(3)]
    results = await asyncio.gather(
        *(s.append(batch, expected=None) for s in stores for _ in (0, 1)),
        return_exceptions=True,
    )
    stored, refused = _outcomes(results)
    assert len(stored) == 1 and len(refused) == 2 * CONNECTIONS - 1
    last = results[stored[0]]
    assert isinstance(last, int)
    _assert_whole_at(await _seqs(stores[0], job), batch, last)
    with pytest.raises(ConcurrencyConflict):
        await stores[1].append(batch, expected=None)
    assert await stores[2].append_unchecked(batch[1]) == last - 1  # one of its ids: a duplicate
    assert len(await stores[0].history(job)) == len(batch)


@examples
@given(
    st.lists(
        st.lists(st.integers(0, 7), min_size=2, max_size=4, unique=True), min_size=2, max_size=6
    )
)
async def test_overlapping_batches_at_once_store_each_event_once_and_each_batch_whole(
    stores: list[EventStore], picks: list[list[int]]
) -> None:
    """Batches sharing events, sent at once: a batch is stored whole or refused, and refused
    only for an event a stored batch holds. The ids of a refused batch stay free."""
    job = new_id()
    pool = [_line(job, f"e{n}") for n in range(8)]
    batches = [[pool[n] for n in pick] for pick in picks]
    results = await asyncio.gather(
        *(stores[k % CONNECTIONS].append(b, expected=None) for k, b in enumerate(batches)),
        return_exceptions=True,
    )
    stored, refused = _outcomes(results)
    where = await _seqs(stores[0], job)
    for k in stored:
        last = results[k]
        assert isinstance(last, int)
        _assert_whole_at(where, batches[k], last)
    held = {n for k in stored for n in picks[k]}
    assert set(where) == {pool[n].event_id for n in held}
    for k in refused:
        assert held & set(picks[k]), "a batch refused though none of its events was stored"
    last = max(where.values(), default=0)
    for n in sorted(set(range(len(pool))) - held):  # not stored, so its id was not taken
        seq = await stores[1].append_unchecked(pool[n])
        assert seq > last
        last = seq
    assert len(await _seqs(stores[0], job)) == len(pool)


async def test_two_recorders_recording_the_same_run_store_each_event_once_in_order(
    nats_url: str, stores: list[EventStore]
) -> None:
    """Two workers on one attempt of a job (a redelivery while the first still runs) record
    the same facts under the same message ids, each in its own batches: the log holds each
    fact once, in the order both added them."""
    job, count = new_id(), 2 * MAX_BATCH + 50
    conns = [await wait_for_jetstream(nats_url) for _ in range(2)]
    recorders = [Recorder(nc, Codec()) for nc in conns]

    async def record(recorder: Recorder, every: int) -> None:
        for n in range(count):
            await recorder.add(_line(job, str(n)), msg_id=f"{job}:{n}:1")
            if n % every == 0:
                await asyncio.sleep(0)  # let the flusher take a batch: boundaries differ
        await recorder.flush()

    try:
        await asyncio.gather(record(recorders[0], 37), record(recorders[1], 101))
    finally:
        for recorder in recorders:
            await recorder.close()
        for nc in conns:
            await nc.close()
    history = await stores[0].history(job)
    assert [s.event.message for s in history if isinstance(s.event, LogWritten)] == [
        str(n) for n in range(count)
    ]
