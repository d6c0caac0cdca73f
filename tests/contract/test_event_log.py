"""One contract, two event logs: `MemoryEventLog` and the JetStream `EventStore` (a real
nats-server) keep the contract of `engine.domain.eventlog` alike, and `JobService` on either
carries out any sequence of commands to the same jobs at the same sequences."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import nats.js.errors
import pytest
from hypothesis import HealthCheck, given, settings
from nats.aio.client import Client as NATS
from ulid import ULID

from engine.domain.eventlog import EventLog
from engine.domain.events import (
    AnyEvent,
    CancelRequested,
    Codec,
    JobCreated,
    JobDeleted,
    JobStarted,
    LogWritten,
)
from engine.domain.ids import InvalidId
from engine.domain.state import fold
from engine.jetstream.errors import ConcurrencyConflict
from engine.jetstream.store import JOBS_STREAM, EventStore, jobs_stream_config
from engine.memory_log import MemoryEventLog
from engine.service import JobService
from tests import service_steps
from tests.service_steps import Step

A, B = str(ULID.from_int(1 << 80)), str(ULID.from_int(2 << 80))
U = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a job id; none of NOT_IDS is one
NOT_IDS = ["", "nope", "*", ">", "jobs.>", U.lower(), U[:-1], U + "0", "8" + U[1:]]
NOT_IDS += [U[:-1] + "U", U[:10] + "." + U[11:], U[:10] + "*" + U[11:]]
Fresh = Callable[[], Awaitable[EventLog]]
slow_examples = settings(
    max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip


async def _fresh_store(nc: NATS) -> EventStore:
    """The JetStream store on an empty `JOBS` stream: sequences from 1, no ids remembered.

    The stream is created anew, not `ensure`d: on a busy server a deleted stream can still be
    answering for a moment, and `ensure` would then keep it, messages and all.
    """
    js = nc.jetstream()
    for _ in range(100):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(JOBS_STREAM)
        try:
            await js.add_stream(jobs_stream_config())
        # the old one is still going away: refused, or its files not yet gone ("error
        # creating store for stream", a 500)
        except (nats.js.errors.BadRequestError, nats.js.errors.ServerError):
            await asyncio.sleep(0.02)
            continue
        info = await js.stream_info(JOBS_STREAM)
        if info.state.messages == 0:
            return EventStore(nc, Codec())
    raise AssertionError("the JOBS stream could not be made empty")


async def _fresh_memory() -> EventLog:
    return MemoryEventLog()


@pytest.fixture(params=["memory", "jetstream"])
def fresh(request: pytest.FixtureRequest) -> Fresh:
    """Makes an empty event log of the kind the test runs on."""
    if request.param == "memory":
        return _fresh_memory
    nc: NATS = request.getfixturevalue("nc")
    return lambda: _fresh_store(nc)


@pytest.fixture
async def log(fresh: Fresh) -> EventLog:
    return await fresh()


def _id(n: int) -> str:
    return str(ULID.from_int((n + 1) << 20))


def created(job_id: str, n: int) -> JobCreated:
    return JobCreated(
        event_id=_id(n), job_id=job_id, at=n, actor="t", user_id="u", type=50, priority=1
    )


def started(job_id: str, n: int) -> JobStarted:
    return JobStarted(event_id=_id(n), job_id=job_id, at=n, actor="t", worker_id="w")


def logged(job_id: str, n: int) -> LogWritten:
    return LogWritten(event_id=_id(n), job_id=job_id, at=n, actor="t", message=f"line {n}")


def stop_and_hide(job_id: str, n: int) -> list[AnyEvent]:
    """What deleting a running job decides: two events, one atomic append."""
    return [
        CancelRequested(event_id=_id(n), job_id=job_id, at=n, actor="t"),
        JobDeleted(event_id=_id(n + 1), job_id=job_id, at=n, actor="t"),
    ]


async def _events(log: EventLog, job_id: str, from_seq: int = 1) -> list[tuple[int, AnyEvent]]:
    return [(s.seq, s.event) for s in await log.history(job_id, from_seq)]


class TestEventLogContract:
    """Each test runs on the memory log and on JetStream (`[memory]`, `[jetstream]`)."""

    async def test_sequences_span_all_jobs_and_a_history_is_its_jobs_events_in_order(
        self, log: EventLog
    ) -> None:
        a0, b0, a1, a2 = created(A, 0), created(B, 1), started(A, 2), logged(A, 3)
        assert await log.append([a0], expected=0) == 1
        assert await log.append([b0], expected=0) == 2
        assert await log.append([a1], expected=1) == 3
        assert await log.append_unchecked(a2) == 4
        assert await _events(log, A) == [(1, a0), (3, a1), (4, a2)]
        assert await _events(log, A, from_seq=2) == [(3, a1), (4, a2)]
        assert await _events(log, A, from_seq=5) == []
        assert await _events(log, B) == [(2, b0)]
        assert await _events(log, str(ULID.from_int(3 << 80))) == []

    async def test_an_append_expecting_another_sequence_conflicts_and_stores_nothing(
        self, log: EventLog
    ) -> None:
        await log.append([created(A, 0)], expected=0)
        await log.append([created(B, 1)], expected=0)  # another job's events move no check
        with pytest.raises(ConcurrencyConflict):
            await log.append([created(A, 2)], expected=0)  # a create on an existing job
        for stale in (0, 2, 5):
            with pytest.raises(ConcurrencyConflict):
                await log.append([started(A, 3)], expected=stale)
        with pytest.raises(ConcurrencyConflict):
            await log.append([created(str(ULID.from_int(3 << 80)), 4)], expected=1)
        assert [seq for seq, _ in await _events(log, A)] == [1]
        assert await log.append([started(A, 3)], expected=1) == 3

    async def test_an_event_id_already_stored_is_not_stored_again(self, log: EventLog) -> None:
        a0, a1 = created(A, 0), started(A, 1)
        assert await log.append([a0], expected=0) == 1
        assert await log.append([a0], expected=None) == 1
        assert await log.append_unchecked(a0) == 1
        assert await log.append([a1], expected=1) == 2
        # the sequence check comes first: a repeat on a stale sequence conflicts
        with pytest.raises(ConcurrencyConflict):
            await log.append([a1], expected=1)
        assert await log.append([a1], expected=2) == 2
        # a message id of its own dedupes apart from the event id
        assert await log.append_unchecked(logged(A, 2), msg_id="page-1") == 3
        assert await log.append_unchecked(logged(A, 3), msg_id="page-1") == 3
        assert await log.append_unchecked(logged(A, 2)) == 4
        assert [e for _, e in await _events(log, A)] == [a0, a1, logged(A, 2), logged(A, 2)]

    async def test_several_events_are_stored_all_or_none(self, log: EventLog) -> None:
        await log.append([created(A, 0)], expected=0)
        await log.append([started(A, 1)], expected=1)
        with pytest.raises(ConcurrencyConflict):  # the check on the first guards them all
            await log.append(stop_and_hide(A, 10), expected=1)
        assert await log.append(stop_and_hide(A, 10), expected=2) == 4
        assert [type(e) for _, e in await _events(log, A, 3)] == [CancelRequested, JobDeleted]
        with pytest.raises(ConcurrencyConflict):  # the same decision sent again
            await log.append(stop_and_hide(A, 10), expected=2)
        with pytest.raises(ConcurrencyConflict):  # a batch holding a stored id: none of it
            await log.append([logged(A, 20), started(A, 1)], expected=None)
        with pytest.raises(ConcurrencyConflict):  # an id twice in one batch
            await log.append([logged(A, 21), logged(A, 21)], expected=None)
        # the same events decided again on the newer job are a new decision, and the refused
        # batches took none of their ids
        assert await log.append(stop_and_hide(A, 10), expected=4) == 6
        assert await log.append([logged(A, 20), logged(A, 22)], expected=None) == 8
        # nor are the ids of the batch its sequence check refused taken
        assert await log.append_unchecked(logged(A, 30), msg_id=f"{_id(10)}:1") == 9
        assert [seq for seq, _ in await _events(log, A)] == [1, 2, 3, 4, 5, 6, 7, 8, 9]

    async def test_created_is_the_jobs_created_event_alone(self, log: EventLog) -> None:
        a0 = created(A, 0)
        await log.append([a0], expected=0)
        await log.append([started(A, 1)], expected=1)
        assert await log.created(A) == a0
        assert await log.created(B) is None
        await log.append_unchecked(logged(B, 2))
        assert await log.created(B) is None  # events, but no creation

    async def test_a_purge_erases_one_jobs_events_below_a_sequence(self, log: EventLog) -> None:
        await log.append([created(A, 0)], expected=0)
        await log.append([created(B, 1)], expected=0)
        for n in (2, 3, 4):
            await log.append_unchecked(logged(A, n), msg_id=f"m{n}")
        assert await log.purge(A, before=5) == 3
        assert await _events(log, A) == [(5, logged(A, 4))]
        assert await log.created(A) is None
        assert await _events(log, B) == [(2, created(B, 1))]
        assert await log.append([logged(A, 5)], expected=5) == 6  # numbers are never reused
        assert await log.purge(A) == 2
        assert await log.load(A) is None
        assert await log.append_unchecked(logged(A, 9), msg_id="m2") == 3  # ids outlive a purge
        assert await _events(log, A) == []

    async def test_anything_but_a_job_id_is_refused_before_a_read_or_a_write(
        self, log: EventLog
    ) -> None:
        await log.append([created(A, 0)], expected=0)
        for bad in NOT_IDS:
            for read in (log.history, log.load, log.created, log.purge):
                with pytest.raises(InvalidId):
                    await read(bad)
            with pytest.raises(InvalidId):
                await log.append([started(bad, 1)], expected=1)
            with pytest.raises(InvalidId):
                await log.append_unchecked(logged(bad, 2))
            with pytest.raises(InvalidId):  # a bad id anywhere in a batch: none of it stored
                await log.append([logged(A, 3), logged(bad, 4)], expected=1)
        assert await log.append([started(A, 1)], expected=1) == 2

    async def test_a_load_from_a_known_state_equals_a_full_load(self, log: EventLog) -> None:
        await log.append([created(A, 0)], expected=0)
        await log.append([created(B, 1)], expected=0)
        await log.append([started(A, 2)], expected=1)
        await log.append_unchecked(logged(B, 3))
        await log.append(stop_and_hide(A, 4), expected=3)
        history = await _events(log, A)
        full = await log.load(A)
        assert full is not None and full.deleted and full.version == history[-1][0] == 6
        assert full == fold(history)
        for cut in range(1, len(history) + 1):
            assert await log.load(A, fold(history[:cut])) == full
        assert await log.load(B) == fold(await _events(log, B))

    @slow_examples
    @given(service_steps.steps)
    async def test_a_load_from_any_known_state_equals_a_full_load(
        self, fresh: Fresh, raw: list[Step]
    ) -> None:
        log = await fresh()
        await service_steps.run(JobService(log), raw)
        for job_id in service_steps.JOBS:
            history = await _events(log, job_id)
            full = await log.load(job_id)
            assert full == fold(history)
            for cut in range(1, len(history) + 1):
                assert await log.load(job_id, fold(history[:cut])) == full


@slow_examples
@given(service_steps.steps)
async def test_commands_on_the_memory_log_and_on_jetstream_end_alike(
    nc: NATS, raw: list[Step]
) -> None:
    """The same steps through JobService: the same outcomes at the same sequences, the same
    refusals, and the same jobs and histories at the end."""
    memory, store = MemoryEventLog(), await _fresh_store(nc)
    done = await service_steps.run(JobService(memory), raw)
    assert await service_steps.run(JobService(store), raw) == done
    for job_id in service_steps.JOBS:
        assert await store.history(job_id) == await memory.history(job_id)
        assert await store.load(job_id) == await memory.load(job_id)


async def test_kind_counts_are_the_jobs_events_by_kind_and_no_other_jobs(log: EventLog) -> None:
    job, other = _id(100), _id(200)
    await log.append([created(job, 1)], expected=0)
    await log.append_unchecked(started(job, 2))
    for n in range(3, 8):
        await log.append_unchecked(logged(job, n))
    await log.append([created(other, 9)], expected=0)
    assert await log.kind_counts(job) == {"created": 1, "started": 1, "log": 5}
    assert await log.kind_counts(other) == {"created": 1}
    assert await log.kind_counts(_id(300)) == {}
