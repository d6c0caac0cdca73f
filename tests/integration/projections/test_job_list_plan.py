"""The unfinished jobs are listed from indexes holding only them, not by walking every job
(what dashboards and `?is_done=false` poll, among many finished jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from projections.queries import JobFilter, jobs_page_sql
from projections.schema import open_db


@pytest.mark.parametrize(
    ("viewer", "index"), [(None, "jobs_unfinished"), ("u1", "jobs_unfinished_by_user")]
)
async def test_the_unfinished_jobs_list_reads_the_unfinished_index(
    tmp_path: Path, viewer: str | None, index: str
) -> None:
    db = await open_db(tmp_path / "read.db")
    try:
        for parent in (None, "01J0000000000000000000000P"):
            sql, args = jobs_page_sql(JobFilter(viewer=viewer, parent_job_id=parent, is_done=False))
            plan = await db.execute_fetchall(f"EXPLAIN QUERY PLAN {sql}", [*args, 20, 0, *args])
            searches = [row[3] for row in plan if " jobs " in f" {row[3]} "]
            assert searches and all(f"USING INDEX {index} " in s for s in searches), plan
    finally:
        await db.close()
