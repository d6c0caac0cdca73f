"""Reads for live feeds: the current rows of a set of jobs, and the jobs changed since a point."""

from __future__ import annotations

from collections.abc import Collection

import aiosqlite

from projections.queries import _COLUMNS, JobFilter, JobRow, _job, _where


async def jobs_matching(
    db: aiosqlite.Connection, f: JobFilter, ids: Collection[str]
) -> dict[str, JobRow]:
    """Those of `ids` that the list with filter `f` would show, by id (one statement)."""
    if not ids:
        return {}
    where, args = _where(f)
    marks = ", ".join("?" * len(ids))
    sql = f"SELECT {_COLUMNS} FROM jobs WHERE {where} AND id IN ({marks})"
    rows = await db.execute_fetchall(sql, [*args, *ids])
    jobs = [_job(tuple(r)) for r in rows]
    return {j.id: j for j in jobs}


async def jobs_changed_since(
    db: aiosqlite.Connection, seq: int, limit: int
) -> tuple[list[tuple[str, int]], bool]:
    """Jobs with events after `seq`, as `(job_id, last sequence)` in sequence order.

    The second value is True when more than `limit` jobs changed (the caller should reload).
    """
    sql = (
        "SELECT job_id, max(seq) AS last FROM job_events WHERE seq > ? "
        "GROUP BY job_id ORDER BY last LIMIT ?"
    )
    rows = [(str(r[0]), int(r[1])) for r in await db.execute_fetchall(sql, (seq, limit + 1))]
    return rows[:limit], len(rows) > limit
