"""JobService's own logic on the in-memory event log: the reload-and-decide-again loop after a
concurrent writer, the end of that loop, and `execute(known=...)` against a fresh load."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from engine.domain.errors import JobConflict, Refusal
from engine.domain.eventlog import Stored
from engine.domain.events import CancelRequested, Event, JobDeleted, LogWritten
from engine.domain.model import JobStatus
from engine.domain.state import fold
from engine.memory_log import MemoryEventLog
from engine.service import CommandOutcome, JobService
from tests.service_steps import JOBS, Step, command, run, steps

JOB = JOBS[0]


class RivalLog(MemoryEventLog):
    """A memory log where another writer gets in first: before each of the next `rivals`
    checked appends, it appends a log line to the same job. Records every history read."""

    def __init__(self) -> None:
        super().__init__()
        self.rivals = 0
        self.reads: list[int] = []  # `from_seq` of each history read
        self._lines = 0

    async def append(self, events: Sequence[Event], expected: int | None) -> int:
        if self.rivals > 0:
            self.rivals -= 1
            self._lines += 1
            line = LogWritten(
                event_id=str(ULID.from_int(self._lines)), job_id=events[0].job_id, at=0,
                actor="rival", message="meanwhile",
            )  # fmt: skip
            await self.append_unchecked(line)
        return await super().append(events, expected)

    async def history(self, job_id: str, from_seq: int = 1) -> list[Stored]:
        self.reads.append(from_seq)
        return await super().history(job_id, from_seq)


async def _service(*setup: str) -> tuple[JobService, RivalLog]:
    """A service on a RivalLog holding JOB, created, then the `setup` commands carried out."""
    log = RivalLog()
    service = JobService(log)
    for n, kind in enumerate(("create", *setup)):
        await service.execute(command(kind, JOB, n, 1))
    log.reads.clear()
    return service, log


async def _kinds(log: MemoryEventLog) -> list[str]:
    return [type(s.event).__name__ for s in await log.history(JOB)]


async def test_each_writer_first_makes_the_command_decided_again_on_what_it_wrote() -> None:
    service, log = await _service()
    log.rivals = 3
    outcome = await service.execute(command("start", JOB, 10, 0))
    assert log.reads == [1, 2, 3, 4]  # each reload reads only what the rival added
    assert await _kinds(log) == ["JobCreated", *["LogWritten"] * 3, "JobStarted"]
    assert outcome.state == await log.load(JOB)
    assert outcome.state is not None and outcome.state.status == JobStatus.RUNNING
    assert outcome.seq == outcome.state.version == 5


async def test_a_job_changing_under_twenty_decisions_in_a_row_is_a_conflict() -> None:
    service, log = await _service()
    log.rivals = 19
    assert (await service.execute(command("start", JOB, 10, 0))).seq == 21
    log.rivals = 20
    with pytest.raises(JobConflict, match="changing too fast"):
        await service.execute(command("finish", JOB, 11, 0))
    assert (await _kinds(log))[-21:] == ["JobStarted", *["LogWritten"] * 20]


async def test_a_two_event_decision_after_a_conflict_is_stored_once_and_whole() -> None:
    service, log = await _service("start")
    log.rivals = 1
    outcome = await service.execute(command("delete", JOB, 10, 0))
    events = [s.event for s in await log.history(JOB, 3)]
    assert [type(e) for e in events] == [LogWritten, CancelRequested, JobDeleted]
    assert outcome.state == await log.load(JOB)
    assert outcome.state is not None and outcome.state.deleted and outcome.state.cancel_requested


async def test_creating_an_existing_job_is_a_conflict_and_stores_nothing() -> None:
    service, log = await _service()
    with pytest.raises(JobConflict, match="already exists"):
        await service.execute(command("create", JOB, 10, 0))
    assert await _kinds(log) == ["JobCreated"]


async def test_a_command_that_changes_nothing_appends_nothing() -> None:
    service, log = await _service("start", "cancel")
    known = await log.load(JOB)
    assert known is not None and known.cancel_requested
    outcome = await service.execute(command("cancel", JOB, 10, 0), known)
    assert outcome == CommandOutcome(known, known.version)
    assert await _kinds(log) == ["JobCreated", "JobStarted", "CancelRequested"]


async def _twice(raw: list[Step]) -> tuple[JobService, JobService]:
    """Two services, each on its own memory log that `raw` was carried out on."""
    services = JobService(MemoryEventLog()), JobService(MemoryEventLog())
    for service in services:
        await run(service, raw)
    return services


async def _attempt(service: JobService, step: Step, cut: int | None) -> CommandOutcome | str:
    """`step` carried out on JOBS[step[1]], decided first on the job folded from the first
    `cut` (modulo their number + 1) of its events when given; the refusal's name if refused."""
    kind, j, arg = step
    known = None
    if cut is not None:
        history = [(s.seq, s.event) for s in await service.store.history(JOBS[j])]
        known = fold(history[: cut % (len(history) + 1)])
    try:
        return await service.execute(command(kind, JOBS[j], 999, arg), known)
    except Refusal as e:
        return type(e).__name__


COMMANDS = ["create", "start", "finish", "cancel", "delete", "retry", "fail", "purge"]
last_steps = st.tuples(st.sampled_from(COMMANDS), st.integers(0, len(JOBS) - 1), st.integers(0, 7))


@settings(max_examples=150, deadline=None)
@given(steps, last_steps, st.integers(0, 100))
async def test_execute_on_any_earlier_state_ends_as_on_a_fresh_load(
    raw: list[Step], last: Step, cut: int
) -> None:
    """Whatever the caller's `known` (the job as some earlier load left it), the outcome and
    the log afterwards are those of the same command decided on a fresh load."""
    on_known, on_fresh = await _twice(raw)
    assert await _attempt(on_known, last, cut) == await _attempt(on_fresh, last, None)
    for job_id in JOBS:
        assert await on_known.store.history(job_id) == await on_fresh.store.history(job_id)
