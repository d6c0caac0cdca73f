"""Events: the only facts the system stores. Tags are stable; schemas only grow.

Every event is published on `jobs.<job_id>.<kind>`. New fields must get defaults so that
old encoded events keep decoding (see tests/unit/fixtures/events_v1.jsonl).
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from engine.domain.ids import job_token


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Fields every event carries: ULID event id, job id, ms time and the actor."""

    event_id: str
    job_id: str
    at: int
    actor: str


class JobCreated(Event, frozen=True, kw_only=True, tag="created"):
    """A job was accepted; its parameters never change afterwards."""

    user_id: str
    type: int
    priority: int
    params: dict[str, Any] = {}
    title: str = ""
    parent_job_id: str | None = None
    depends_on: str | None = None
    extra: dict[str, Any] = {}
    total: int = 1


class JobStarted(Event, frozen=True, kw_only=True, tag="started"):
    """A worker took the job (again, when `attempt` > 1)."""

    worker_id: str
    attempt: int = 1


class CancelRequested(Event, frozen=True, kw_only=True, tag="cancel_requested"):
    """Someone asked a running job to stop; its worker stops cooperatively."""


class JobCanceled(Event, frozen=True, kw_only=True, tag="canceled"):
    """The job stopped for good because of a cancel."""

    reason: str = ""


class JobSucceeded(Event, frozen=True, kw_only=True, tag="succeeded"):
    """The job finished its work."""


class JobFailed(Event, frozen=True, kw_only=True, tag="failed"):
    """The job ended with an error."""

    error: str


class JobDeleted(Event, frozen=True, kw_only=True, tag="deleted"):
    """The job is hidden from every read; its history stays in the log."""


class PageRecorded(Event, frozen=True, kw_only=True, tag="page"):
    """One URL of the job was attempted; `result_key` locates the stored body."""

    url: str
    ok: bool
    status: int = 0
    error: str | None = None
    attempt: int = 1
    meta: dict[str, Any] = {}
    result_key: str | None = None


class ProgressReported(Event, frozen=True, kw_only=True, tag="progress"):
    """Counters of long work, for progress bars between pages."""

    done: int = 0
    failed: int = 0
    total: int = 0
    skipped: int = 0


class LogWritten(Event, frozen=True, kw_only=True, tag="log"):
    """A human-readable log line about the job."""

    level: str = "info"
    message: str = ""


class ChildFinished(Event, frozen=True, kw_only=True, tag="child_finished"):
    """A batch child ended; the parent's counters come from these."""

    child_id: str
    status: int


class RetryRequested(Event, frozen=True, kw_only=True, tag="retry_requested"):
    """A finished job is queued again for its failed work only."""


class JobPurged(Event, frozen=True, kw_only=True, tag="purged"):
    """An admin erased the job's history; this tombstone, left in its place, holds no user data."""


AnyEvent = (
    JobCreated
    | JobStarted
    | CancelRequested
    | JobCanceled
    | JobSucceeded
    | JobFailed
    | JobDeleted
    | PageRecorded
    | ProgressReported
    | LogWritten
    | ChildFinished
    | RetryRequested
    | JobPurged
)

# Every event tag (the last token of the subject), e.g. to validate a `kind` filter.
EVENT_KINDS: frozenset[str] = frozenset(
    str(t.__struct_config__.tag) for t in typing.get_args(AnyEvent)
)


class Codec:
    """Encodes and decodes events; build one and share it (the decoder is compiled once)."""

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)

    def encode(self, event: Event) -> bytes:
        return self._encoder.encode(event)

    def decode(self, data: bytes) -> AnyEvent:
        return self._decoder.decode(data)


def kind_of(event: Event) -> str:
    """The event's stable tag, also the last token of its subject."""
    return str(event.__struct_config__.tag)


def subject_of(event: Event) -> str:
    """`jobs.<job id>.<kind>`; InvalidId when the event's job id is not a job id."""
    return f"jobs.{job_token(event.job_id)}.{kind_of(event)}"


def parse_subject(subject: str) -> tuple[str, str] | None:
    """`(job id, kind)` of a `subject_of` subject, read without decoding the event; None
    for any other shape."""
    parts = subject.split(".")
    return (parts[1], parts[2]) if len(parts) == 3 else None


def to_builtins(event: Event) -> dict[str, Any]:
    """The event's own data, without the envelope fields, as JSON-ready values."""
    data: dict[str, Any] = msgspec.to_builtins(event)
    for key in ("event_id", "job_id", "at", "actor", "kind"):
        data.pop(key, None)
    return data
