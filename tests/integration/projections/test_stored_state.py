"""A job's state is stored without its params, which its own column holds once."""

from __future__ import annotations

from pathlib import Path

import msgspec

from engine.domain.commands import CreateJob, FinishJob, StartJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, new_id
from engine.domain.model import JobStatus, JobType
from engine.domain.state import fold
from projections.apply import apply_batch
from projections.queries import get_job
from projections.schema import open_db
from projections.state_cache import StateCache

PARAMS = {
    "spider": {"id": "s-1", "name": "shop"},
    "chapters": [{"id": f"{i:016x}", "url": f"https://example.com/{i}"} for i in range(2_000)],
}


async def test_params_are_stored_once_and_kept_through_later_writes(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "read.db")
    try:
        job_id = new_id()
        create = CreateJob(**command_envelope(job_id, "u1"), user_id="u1", type=JobType.SPIDER,
                           priority=1, params=PARAMS, title="t")  # fmt: skip
        log = [(1, e) for e in decide(None, create)]
        start = StartJob(**command_envelope(job_id, "w"), worker_id="w")
        log += [(2, e) for e in decide(fold(log), start)]
        finish = FinishJob(**command_envelope(job_id, "w"), ok=True)
        log += [(3, e) for e in decide(fold(log), finish)]
        for seq_event in log:  # nothing remembered between batches: each state read back
            await apply_batch(db, [seq_event], StateCache())
        job = await get_job(db, job_id, None, with_params=True)
        assert job is not None and job.status == JobStatus.SUCCESS and job.version == 3
        assert job.params == PARAMS and job.spider_id == "s-1"  # kept through two updates
        shown = await get_job(db, job_id, None)  # as views read it: the params left out
        assert shown == msgspec.structs.replace(job, params={})
        [(state, params)] = await db.execute_fetchall(
            "SELECT length(state), length(params) FROM jobs WHERE id = ?", (job_id,)
        )
        assert params > 100_000 and state < 2_000  # the params once, not again in the state
    finally:
        await db.close()
