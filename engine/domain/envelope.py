"""Envelopes: the fields every command and every event carries, made in one place.

A command envelope is `{command_id, job_id, at, actor}`, an event envelope `{event_id,
job_id, at, actor}`; spread one into the struct: `CancelJob(**command_envelope(job_id, who))`,
`LogWritten(**event_envelope(job_id, who), message=...)`. Without an explicit id and time
the envelope gets a new ULID and the current time; `decide` passes both, since an event's id
derives from its command's and its time is the command's.
"""

from __future__ import annotations

import time
from typing import TypedDict

from ulid import ULID


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """A new ULID in its canonical form."""
    return str(ULID())


class CommandEnvelope(TypedDict):
    """The fields every command carries."""

    command_id: str
    job_id: str
    at: int
    actor: str


class EventEnvelope(TypedDict):
    """The fields every event carries."""

    event_id: str
    job_id: str
    at: int
    actor: str


def command_envelope(
    job_id: str, actor: str, *, command_id: str | None = None, at: int | None = None
) -> CommandEnvelope:
    """The envelope of a command by `actor` on `job_id`: `command_id` and `at` when given,
    else a new ULID and the current time."""
    return {
        "command_id": command_id if command_id is not None else new_id(),
        "job_id": job_id,
        "at": at if at is not None else now_ms(),
        "actor": actor,
    }


def event_envelope(
    job_id: str, actor: str, *, event_id: str | None = None, at: int | None = None
) -> EventEnvelope:
    """The envelope of an event by `actor` on `job_id`: `event_id` and `at` when given,
    else a new ULID and the current time."""
    return {
        "event_id": event_id if event_id is not None else new_id(),
        "job_id": job_id,
        "at": at if at is not None else now_ms(),
        "actor": actor,
    }
