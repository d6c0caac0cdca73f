"""`include=stats,progress,logs` on job reads (seeds 003 and 004)."""

from __future__ import annotations

from typing import Any

import msgspec

from api.jobs import JobsApi
from api.schemas import Job, LogEntry, TaskProgress
from engine.errors import InvalidCommand
from engine.model import percentage
from projections import queries
from projections.queries import EventRow, JobRow

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
    total, percent = percentage(row.status, row.done, row.failed, row.total)
    return TaskProgress(
        total_tasks=total, completed_tasks=row.done, failed_tasks=row.failed,
        skipped_tasks=row.skipped, percentage=percent,
    )  # fmt: skip


async def view(jobs: JobsApi, row: JobRow, include: frozenset[str]) -> Job:
    """The job as served, with the extras asked for."""
    job = Job.of(row)
    if not include:
        return job
    changes: dict[str, Any] = {}
    if "progress" in include:
        changes["progress"] = task_progress(row)
    if "stats" in include:
        changes["stats"] = await queries.crawl_stats(jobs.db, row.id)
    if "logs" in include:
        changes["logs"] = log_entries(await queries.job_logs(jobs.db, row.id))
    return msgspec.structs.replace(job, **changes)


def log_entries(rows: list[EventRow]) -> list[LogEntry]:
    """A job's `log` events from the read model as seed 004's entries."""
    return [
        LogEntry(timestamp=e.at, level=str(e.data.get("level")), message=str(e.data.get("message")))
        for e in rows
    ]
