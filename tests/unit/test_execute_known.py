"""`JobService.execute` with a `known` state: no read when it is current, a fresh outcome if not."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from engine.domain.commands import AnyCommand, CreateJob, FailJob, RetryJob, StartJob
from engine.domain.envelope import command_envelope
from engine.domain.errors import JobConflict
from engine.domain.events import Codec, Event
from engine.domain.model import JobStatus, JobType
from engine.domain.state import JobState
from engine.jetstream.errors import ConcurrencyConflict
from engine.jetstream.store import EventStore, Stored
from engine.service import JobService


class MemoryStore(EventStore):
    """The event store's append check and history reads, in memory; counts history reads."""

    def __init__(self) -> None:  # no NATS: only the methods JobService uses are replaced
        self._codec = Codec()
        self.log: list[Stored] = []
        self.reads = 0

    async def append(self, events: Sequence[Event], expected: int | None) -> int:
        job_id = events[0].job_id
        last = max((s.seq for s in self.log if s.event.job_id == job_id), default=0)
        if expected is not None and expected != last:
            raise ConcurrencyConflict(job_id)
        for event in events:
            self.log.append(
                Stored(len(self.log) + 1, self._codec.decode(self._codec.encode(event)))
            )
        return len(self.log)

    async def history(self, job_id: str, from_seq: int = 1) -> list[Stored]:
        self.reads += 1
        return [s for s in self.log if s.event.job_id == job_id and s.seq >= from_seq]


JOB = "01J0000000000000000000JOB1"


@pytest.fixture
async def service() -> JobService:
    service = JobService(MemoryStore())
    create = CreateJob(
        **command_envelope(JOB, "t"), user_id="u", type=int(JobType.SCRAPE), priority=1
    )
    await service.execute(create)
    return service


def _reads(service: JobService) -> int:
    assert isinstance(service.store, MemoryStore)
    return service.store.reads


async def _run(service: JobService, command: AnyCommand, known: JobState | None = None) -> JobState:
    state = (await service.execute(command, known)).state
    assert state is not None
    return state


async def test_a_current_known_state_is_appended_to_without_a_read(service: JobService) -> None:
    known = await service.store.load(JOB)
    assert known is not None
    reads = _reads(service)
    started = await _run(service, StartJob(**command_envelope(JOB, "w"), worker_id="w"), known)
    assert _reads(service) == reads
    assert started == await service.store.load(JOB)
    assert (started.status, started.attempts) == (JobStatus.RUNNING, 1)


async def test_a_stale_known_state_gives_the_outcome_of_a_fresh_load(service: JobService) -> None:
    stale = await service.store.load(JOB)
    await _run(service, StartJob(**command_envelope(JOB, "w"), worker_id="w"))
    again = await _run(service, StartJob(**command_envelope(JOB, "w"), worker_id="w"), stale)
    assert again.attempts == 2  # decided on the job as the log holds it, not on `stale`
    assert again == await service.store.load(JOB)


async def test_a_stale_known_state_refusing_the_command_does_not_refuse_it(
    service: JobService,
) -> None:
    await _run(service, FailJob(**command_envelope(JOB, "t"), error="boom"))
    failed = await service.store.load(JOB)
    await _run(service, RetryJob(**command_envelope(JOB, "t")))
    started = await _run(service, StartJob(**command_envelope(JOB, "w"), worker_id="w"), failed)
    assert started.status == JobStatus.RUNNING


async def test_a_command_the_current_job_refuses_is_refused(service: JobService) -> None:
    pending = await service.store.load(JOB)
    await _run(service, FailJob(**command_envelope(JOB, "t"), error="boom"))
    with pytest.raises(JobConflict):
        await service.execute(StartJob(**command_envelope(JOB, "w"), worker_id="w"), pending)
