"""A projector stopped while its COMMIT runs: aiosqlite's thread may finish the commit after
the await was cancelled, and the batch then ends with the cancel, not with a failed
ROLLBACK of a transaction that is no more (which made the service's shutdown fail)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from engine.domain.commands import CreateJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, new_id
from projections.apply import apply_batch
from projections.queries import get_job
from projections.schema import open_db, read_checkpoint


class CancelledAfterCommit:
    """A real connection whose COMMIT is carried out, then its await cancelled."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, *args: Any) -> Any:
        result = await self._db.execute(sql, *args)
        if sql == "COMMIT":
            raise asyncio.CancelledError
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_a_cancel_after_the_commit_ends_the_batch_with_the_cancel(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "read.db")
    try:
        job_id = new_id()
        command = CreateJob(
            **command_envelope(job_id, "u1"), user_id="u1", type=0, priority=1, params={},
            title="t",
        )  # fmt: skip
        batch = [(1, event) for event in decide(None, command)]
        with pytest.raises(asyncio.CancelledError):
            await apply_batch(CancelledAfterCommit(db), batch)  # type: ignore[arg-type]
        assert not db.in_transaction
        assert await read_checkpoint(db) == 1  # committed: the job is there
        assert await get_job(db, job_id, None) is not None
    finally:
        await db.close()
