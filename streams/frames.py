"""Frames: what a job's events look like on its stream, made by a pure fold (no I/O).

Frames carry the stream sequence of the event they describe as their id, so a client that
reconnects with the last id it saw gets exactly the frames after it. Pages, items, logs and
status changes are sent one for one; progress is coalesced to at most one frame per interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from engine.domain.events import (
    AnyEvent,
    ChaptersStored,
    ChildFinished,
    ItemScraped,
    LogWritten,
    PageRecorded,
    ProgressReported,
    kind_of,
)
from engine.domain.model import JobStatus, JobType
from engine.domain.progress import progress
from engine.domain.state import Accumulator, JobState

Snapshot = Callable[[JobState], dict[str, Any]]


class Frame(msgspec.Struct, frozen=True, kw_only=True):
    """One server-sent event: `id` is the log sequence it reflects."""

    id: int
    event: str
    data: dict[str, Any]


def progress_data(s: JobState) -> dict[str, Any]:
    """Counters in pages (children for a batch); a SPIDER job's also counts its `items`."""
    p = progress(s.status, s.done, s.failed, s.total)
    items = {"items": s.items} if s.type == JobType.SPIDER else {}
    return {
        "job_id": s.id, "status": s.status, "done": s.done, "failed": s.failed,
        "total": p.total, "skipped": s.skipped, "percentage": p.percentage, **items,
    }  # fmt: skip


def status_data(s: JobState, kind: str) -> dict[str, Any]:
    return {
        "job_id": s.id, "status": s.status, "status_name": JobStatus(s.status).name.lower(),
        "event": kind, "error": s.error, "cancel_requested": s.cancel_requested,
        "deleted": s.deleted, "parent_job_id": s.parent_job_id,
    }  # fmt: skip


def page_data(e: PageRecorded) -> dict[str, Any]:
    return {**e.meta, "url": e.url, "ok": e.ok, "status": e.status, "error": e.error}


def item_data(e: ItemScraped) -> dict[str, Any]:
    return {"job_id": e.job_id, "url": e.url, "index": e.index, "data": e.data}


def is_final(s: JobState) -> bool:
    return s.is_done or s.deleted


class JobFrames:
    """Turns one job's events into frames, folding its state as it goes (no I/O)."""

    def __init__(self, state: JobState | None, sent: int, interval: float) -> None:
        self._fold = Accumulator(state)  # pages fold in linear time; the state is read rarely
        self.sent = sent
        self.ended = state is not None and is_final(state)  # kept so checks need no state read
        self.interval = interval
        self._dirty = False
        self._last_progress = 0.0

    @property
    def state(self) -> JobState | None:
        """The job as of the last event taken (`version` is that event's sequence)."""
        return self._fold.state

    def on_event(self, seq: int, event: AnyEvent, now: float) -> list[Frame]:
        if seq <= self.sent:
            return []  # already sent from the catch-up read
        self.sent = seq
        self._fold.apply(seq, event)
        match event:
            case PageRecorded():
                self._dirty = True
                return [Frame(id=seq, event="page", data=page_data(event)), *self.due(now)]
            case ChaptersStored():  # one OK page per chapter
                self._dirty = True
                pages = [c.page_meta(event.at) | {"error": None} for c in event.chapters]
                return [*(Frame(id=seq, event="page", data=p) for p in pages), *self.due(now)]
            case ProgressReported() | ChildFinished():
                self._dirty = True
                return self.due(now)
            case ItemScraped():
                self._dirty = True  # the item count in progress moved
                return [Frame(id=seq, event="item", data=item_data(event)), *self.due(now)]
            case LogWritten(level=level, message=message):
                data = {"job_id": event.job_id, "level": level, "message": message, "at": event.at}
                return [Frame(id=seq, event="log", data=data)]
        frames = self.due(now, force=True)
        state = self.state
        assert state is not None  # the event was folded, so there is a state
        self.ended = is_final(state)  # only these events change status or deletion
        frames.append(Frame(id=seq, event="status", data=status_data(state, kind_of(event))))
        return frames + self.final()

    def replay(self, events: Iterable[tuple[int, AnyEvent]], now: float) -> list[Frame]:
        """The frames of stored `(sequence, event)` pairs read in one go, then the progress
        they left pending (a catch-up ends up to date, not an interval behind)."""
        frames = [f for seq, event in events for f in self.on_event(seq, event, now)]
        return frames + self.due(now, force=True)

    def due(self, now: float, force: bool = False) -> list[Frame]:
        """A progress frame if counters changed and the interval passed (or `force`)."""
        if not self._dirty or (not force and now - self._last_progress < self.interval):
            return []  # checked before reading the state, which freezes the page sets
        state = self.state
        if state is None:
            return []
        self._dirty = False
        self._last_progress = now
        return [Frame(id=self.sent, event="progress", data=progress_data(state))]

    def wait_time(self, now: float) -> float | None:
        """How long the caller may wait for events before a pending progress frame is due."""
        if not self._dirty:
            return None
        return max(0.0, self.interval - (now - self._last_progress))

    def final(self) -> list[Frame]:
        """The `done` frame if the job has ended (finished, deleted or purged)."""
        if not self.ended:
            return []
        state = self.state
        assert state is not None
        return [Frame(id=self.sent, event="done", data=progress_data(state) | {
            "status_name": JobStatus(state.status).name.lower(), "error": state.error,
            "deleted": state.deleted,
        })]  # fmt: skip
