"""A projector stopped while a batch is being applied: the batch runs whole in the
connection's thread (one call, committed or rolled back there), and the caller's await
ends with the cancel; the connection is left with no transaction open."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from engine.domain.commands import CreateJob, FinishJob, StartJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, new_id
from engine.domain.model import JobStatus
from engine.domain.state import fold
from projections.apply import apply_batch
from projections.queries import get_job
from projections.schema import open_db, read_checkpoint
from projections.state_cache import StateCache


async def test_a_batch_cancelled_while_it_runs_is_applied_whole_and_ends_with_the_cancel(
    tmp_path: Path,
) -> None:
    db = await open_db(tmp_path / "read.db")
    try:
        job_id = new_id()
        [created] = decide(None, create(job_id))
        reached, release = threading.Event(), threading.Event()

        def pause() -> int:  # called by the batch's insert into job_events, in its thread
            reached.set()
            return int(release.wait(10))

        await db.create_function("pause", 0, pause)
        await db.execute("CREATE TRIGGER paused BEFORE INSERT ON job_events "
                         "BEGIN SELECT pause(); END")  # fmt: skip
        applying = asyncio.create_task(apply_batch(db, [(1, created)]))
        assert await asyncio.to_thread(reached.wait, 10)  # mid-transaction, in its thread
        applying.cancel()
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await applying
        assert applying.cancelled()
        assert await read_checkpoint(db) == 1  # the thread went on and committed it whole
        assert not db.in_transaction
        assert await get_job(db, job_id, None) is not None
    finally:
        await db.close()


async def test_a_state_written_by_a_cancelled_batch_is_not_taken_from_the_cache(
    tmp_path: Path,
) -> None:
    # the projector remembers a state once its batch returns; a batch cancelled after its
    # commit leaves the cache one version behind the row, which must then be read again
    db = await open_db(tmp_path / "read.db")
    cache = StateCache()
    try:
        job_id = new_id()
        [created] = decide(None, create(job_id))
        await apply_batch(db, [(1, created)], cache)
        [started] = decide(fold([(1, created)]), StartJob(**command_envelope(job_id, "w"),
                                                           worker_id="w"))  # fmt: skip
        reached, release = threading.Event(), threading.Event()
        await db.create_function("pause", 0, lambda: int(reached.set() or release.wait(10)))
        await db.execute("CREATE TRIGGER paused BEFORE INSERT ON job_events "
                         "BEGIN SELECT pause(); END")  # fmt: skip
        applying = asyncio.create_task(apply_batch(db, [(2, started)], cache))
        assert await asyncio.to_thread(reached.wait, 10)
        applying.cancel()
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await applying
        await db.execute("DROP TRIGGER paused")
        state = fold([(1, created), (2, started)])
        [finished] = decide(state, FinishJob(**command_envelope(job_id, "w"), ok=True))
        await apply_batch(db, [(3, finished)], cache)
        job = await get_job(db, job_id, None)
        assert job is not None and job.status == JobStatus.SUCCESS and job.version == 3
        assert job.started_at is not None  # the start, folded from the row, not the cache
    finally:
        await db.close()


def create(job_id: str) -> CreateJob:
    return CreateJob(
        **command_envelope(job_id, "u1"), user_id="u1", type=0, priority=1, params={},
        title="t",
    )  # fmt: skip


async def test_a_batch_that_fails_is_rolled_back_whole(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "read.db")
    try:
        job_id = new_id()
        [created] = decide(None, create(job_id))
        await db.execute("CREATE TRIGGER no_events BEFORE INSERT ON job_events "
                         "BEGIN SELECT RAISE(ABORT, 'refused'); END")  # fmt: skip
        try:
            await apply_batch(db, [(1, created)])
        except Exception as e:
            assert "refused" in str(e)
        else:
            raise AssertionError("the batch should have failed")
        assert not db.in_transaction
        assert await read_checkpoint(db) == 0
        assert await get_job(db, job_id, None) is None  # the job's row went with the rest
    finally:
        await db.close()
