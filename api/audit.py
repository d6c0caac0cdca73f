"""Audit reads: time-travel views of a job, the audit log's query, and their 422 errors.

The audit endpoints answer a malformed or conflicting query value with 422 naming the field
(`BadQuery`, an InvalidCommand, mapped in api/errors.py), as every route answers a bad field.
"""

from __future__ import annotations

import msgspec

from api.includes import job_view
from api.schemas import Job, LogEntry
from engine.domain.errors import InvalidCommand
from engine.domain.events import EVENT_KINDS, LogWritten
from engine.domain.state import JobState
from engine.jetstream.store import Stored
from projections.apply import row_of
from projections.queries import EventFilter

I64 = 2**63 - 1  # SQLite's INTEGER range: larger numbers would fail in the query, not here
MAX_EVENTS = 1000
DEFAULT_EVENTS = 100


class BadQuery(InvalidCommand):
    """A query parameter is malformed or conflicts with another one (422)."""


def whole_number(name: str, raw: str | None, low: int = 0, high: int = I64) -> int | None:
    """`raw` as an int in [low, high]; None when absent; BadQuery naming `name` otherwise."""
    if raw is None:
        return None
    text = raw.strip()
    if text.isascii() and text.isdigit() and len(text) <= 19 and low <= int(text) <= high:
        return int(text)
    raise BadQuery(f"{name}: expected a whole number from {low} to {high}, got {raw!r}", field=name)


class Point(msgspec.Struct, frozen=True, kw_only=True):
    """A point in a job's past: a log sequence or a millisecond time."""

    seq: int | None = None
    at: int | None = None


def parse_point(as_of: str | None, at: str | None, include: frozenset[str]) -> Point | None:
    """The point asked for with `as_of` or `at`, or None for the job as it is now."""
    point = Point(seq=whole_number("as_of", as_of), at=whole_number("at", at))
    if point.seq is not None and point.at is not None:
        raise BadQuery("at: give as_of or at, not both", field="at")
    if point.seq is None and point.at is None:
        return None
    if "stats" in include:
        # stats are aggregated in the read model for the present only
        raise BadQuery("include: stats are not available with as_of or at", field="include")
    return point


def past_view(state: JobState, history: list[Stored], include: frozenset[str]) -> Job:
    """The job as it was at `state.version`, shaped like a present-day read."""
    logs = _logs_until(state.version, history) if "logs" in include else None
    return job_view(row_of(state), progress="progress" in include, logs=logs)


def _logs_until(seq: int, history: list[Stored]) -> list[LogEntry]:
    return [
        LogEntry(timestamp=s.event.at, level=s.event.level, message=s.event.message)
        for s in history
        if s.seq <= seq and isinstance(s.event, LogWritten)
    ]


def event_query(
    from_seq: str | None, limit: str | None, job_id: str | None, kind: str | None
) -> tuple[EventFilter, int]:
    """The audit log filter (viewer left for the caller to set) and the page size."""
    if kind is not None and kind not in EVENT_KINDS:
        known = ", ".join(sorted(EVENT_KINDS))
        raise BadQuery(f"kind: unknown event kind {kind!r}; one of {known}", field="kind")
    size = whole_number("limit", limit, 1, MAX_EVENTS)
    start = whole_number("from_seq", from_seq) or 0
    f = EventFilter(viewer=None, from_seq=start, job_id=job_id, kind=kind)
    return f, DEFAULT_EVENTS if size is None else size
