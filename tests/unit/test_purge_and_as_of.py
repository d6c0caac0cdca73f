"""Purge tombstones and time travel in the pure core, and a purged log rebuilt equals live."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.domain.commands import CancelJob, CreateJob, DeleteJob, FinishJob, PurgeJob, StartJob
from engine.domain.decide import decide
from engine.domain.errors import JobConflict, JobNotFound
from engine.domain.events import AnyEvent, JobPurged, LogWritten, PageRecorded
from engine.domain.model import JobStatus
from engine.domain.state import JobState, evolve, fold, state_as_of
from projections.apply import apply_batch
from projections.queries import table_dump
from projections.schema import open_db
from tests.unit.strategies import JOB_IDS, by_job, cmd, run_steps, steps

JOB = JOB_IDS[0]


def _skewed(log: list[AnyEvent], skew: list[int]) -> list[AnyEvent]:
    return [msgspec.structs.replace(e, at=e.at + skew[i % len(skew)]) for i, e in enumerate(log)]


@given(steps, st.lists(st.integers(-3, 3), min_size=1, max_size=20))
def test_as_of_is_the_fold_of_the_prefix(raw: list[tuple[str, str, int]], skew: list[int]) -> None:
    for history in by_job(_skewed(run_steps(raw), skew)).values():
        for seq in range(history[-1][0] + 2):
            assert state_as_of(history, seq=seq) == fold(h for h in history if h[0] <= seq)
        for at in {e.at for _, e in history} | {history[0][1].at - 1}:
            then = state_as_of(history, at=at)
            ends = [i for i in range(len(history) + 1) if all(e.at <= at for _, e in history[:i])]
            assert then == fold(history[: max(ends)])
            assert then is None or then.version <= history[-1][0]


def test_as_of_takes_exactly_one_point() -> None:
    with pytest.raises(ValueError):
        state_as_of([], seq=1, at=1)
    with pytest.raises(ValueError):
        state_as_of([])


def _run(state: JobState | None, *commands: Any) -> JobState | None:
    for command in commands:
        for event in decide(state, command):
            state = evolve(state, event)
    return state


def test_a_tombstone_holds_no_user_data_whatever_came_before() -> None:
    created = _run(None, cmd(CreateJob, 1, user_id="u0", type=10, priority=1, params={"a": 1}))
    finished = _run(created, cmd(CancelJob, 2), cmd(DeleteJob, 3))
    assert finished is not None and finished.is_done
    (tombstone,) = decide(finished, cmd(PurgeJob, 4))
    assert isinstance(tombstone, JobPurged)
    purged = evolve(finished, tombstone)
    assert purged == evolve(None, tombstone)  # a rebuilt log may hold only the tombstone
    assert (purged.user_id, purged.params, purged.title, purged.extra) == ("", {}, "", {})
    assert purged.purged and purged.deleted and purged.is_done
    late = PageRecorded(event_id="p", job_id=JOB, at=9, actor="w", url="https://a.test/", ok=True)
    log = LogWritten(event_id="l", job_id=JOB, at=9, actor="w", message="late")
    assert evolve(evolve(purged, late), log) == purged
    assert fold([(1, tombstone), (2, late)]) == msgspec.structs.replace(purged, version=2)


def test_purge_needs_a_finished_job_and_a_purged_job_refuses_other_commands() -> None:
    pending = _run(None, cmd(CreateJob, 1, user_id="u0", type=10, priority=1))
    running = _run(pending, cmd(StartJob, 2, worker_id="w"))
    for state in (pending, running):
        with pytest.raises(JobConflict):
            decide(state, cmd(PurgeJob, 3))
    with pytest.raises(JobNotFound):
        decide(None, cmd(PurgeJob, 3))
    purged = _run(running, cmd(FinishJob, 3, ok=True), cmd(PurgeJob, 4))
    assert purged is not None and purged.status == JobStatus.CANCELED
    for command in (
        cmd(CancelJob, 5), cmd(DeleteJob, 5), cmd(StartJob, 5, worker_id="w"),
        cmd(FinishJob, 5, ok=True),
    ):  # fmt: skip
        with pytest.raises(JobNotFound):
            decide(purged, command)
    with pytest.raises(JobConflict):
        decide(purged, cmd(CreateJob, 5, user_id="u0", type=10, priority=1))
    assert [type(e) for e in decide(purged, cmd(PurgeJob, 5))] == [JobPurged]


def _erased(log: list[AnyEvent]) -> list[tuple[int, AnyEvent]]:
    """The log after the purges were carried out: each purged job's events before its last
    tombstone are gone, sequence numbers unchanged."""
    seqs = list(enumerate(log, start=1))
    last_tombstone = {e.job_id: seq for seq, e in seqs if isinstance(e, JobPurged)}
    return [(seq, e) for seq, e in seqs if seq >= last_tombstone.get(e.job_id, 0)]


async def _apply(path: Path, batches: list[list[tuple[int, AnyEvent]]]) -> Any:
    db = await open_db(path)
    for batch in batches:
        if batch:
            await apply_batch(db, batch)
    dump = await table_dump(db)
    await db.close()
    return dump


# a job created, some history, the job driven to a purge, then more (late writes included)
def _purged_life(t: tuple[str, list[Any], list[Any]]) -> list[Any]:
    job, before, after = t
    return [
        ("create", job, 0),
        *before,
        *((k, job, 0) for k in ("cancel", "finish", "purge")),
        *after,
    ]


purges = st.tuples(st.sampled_from(JOB_IDS[:2]), steps, steps).map(_purged_life)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(purges, st.lists(st.integers(1, 120), max_size=6))
def test_a_purged_log_rebuilt_equals_the_live_read_model(
    raw: list[tuple[str, str, int]], cuts: list[int]
) -> None:
    log = run_steps(raw)
    if not log:
        return
    seqs = list(enumerate(log, start=1))
    bounds = [0, *sorted(c for c in set(cuts) if c < len(seqs)), len(seqs)]
    batches = [seqs[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    with tempfile.TemporaryDirectory() as tmp:
        live = asyncio.run(_apply(Path(tmp) / "live.db", batches))
        rebuilt = asyncio.run(_apply(Path(tmp) / "rebuilt.db", [_erased(log)]))
    assert rebuilt == live
    purged = {e.job_id for e in log if isinstance(e, JobPurged)}
    assert not [row for table in ("jobs", "job_events", "results") for row in live[table]
                if row[0 if table != "job_events" else 1] in purged]  # fmt: skip
