"""`include=stats,progress,logs` on job reads (the domain-crawl jobs API's stats and
progress, the categorised jobs API's logs)."""

from __future__ import annotations

from typing import Any

import aiosqlite
import msgspec

from api.schemas import Job, LogEntry, TaskProgress
from engine.domain.errors import InvalidCommand
from engine.domain.progress import progress
from projections import queries
from projections.queries import CrawlStats, EventRow, JobRow

INCLUDES = frozenset({"stats", "progress", "logs"})


def parse_include(value: str | None) -> frozenset[str]:
    """The asked-for extras; 422 naming `include` for anything unknown."""
    asked = frozenset(p.strip() for p in (value or "").split(",") if p.strip())
    unknown = sorted(asked - INCLUDES)
    if unknown:
        raise InvalidCommand(
            f"include: unknown value {unknown[0]!r}; use stats, progress or logs", field="include"
        )
    return asked


def task_progress(row: JobRow) -> TaskProgress:
    p = progress(row.status, row.done, row.failed, row.total)
    return TaskProgress(
        total_tasks=p.total, completed_tasks=row.done, failed_tasks=row.failed,
        skipped_tasks=row.skipped, percentage=p.percentage,
    )  # fmt: skip


def job_view(
    row: JobRow, *, progress: bool = False, stats: CrawlStats | None = None,
    logs: list[LogEntry] | None = None,
) -> Job:  # fmt: skip
    """The job as served: the domain-crawl jobs API's `progress` object when `progress`, and
    the stats and logs given (each left out of the JSON when None)."""
    job = Job.of(row)
    changes: dict[str, Any] = {}
    if progress:
        changes["progress"] = task_progress(row)
    if stats is not None:
        changes["stats"] = stats
    if logs is not None:
        changes["logs"] = logs
    return msgspec.structs.replace(job, **changes) if changes else job


async def view(db: aiosqlite.Connection, row: JobRow, include: frozenset[str]) -> Job:
    """The job as served now, with the extras asked for read from the read model `db`."""
    stats = await queries.crawl_stats(db, row.id) if "stats" in include else None
    logs = log_entries(await queries.job_logs(db, row.id)) if "logs" in include else None
    return job_view(row, progress="progress" in include, stats=stats, logs=logs)


def log_entries(rows: list[EventRow]) -> list[LogEntry]:
    """A job's `log` events from the read model as the categorised jobs API's entries."""
    return [
        LogEntry(timestamp=e.at, level=str(e.data.get("level")), message=str(e.data.get("message")))
        for e in rows
    ]
