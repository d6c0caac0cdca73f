"""One job's live stream: snapshot or catch-up from the log, then the hub's live events.

Frames carry the stream sequence of the event they describe as their id, so a client that
reconnects with the last id it saw gets exactly the frames after it. Pages, logs and status
changes are sent one for one; progress is coalesced to at most one frame per interval.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, NamedTuple

import msgspec

from engine.events import (
    AnyEvent,
    ChildFinished,
    LogWritten,
    PageRecorded,
    ProgressReported,
    kind_of,
)
from engine.model import JobStatus
from engine.state import JobState, evolve, fold
from engine.store import EventStore, Stored
from streams.errors import HubStopped, SlowReader
from streams.hub import Hub, Reader

Snapshot = Callable[[JobState], dict[str, Any]]


class Frame(msgspec.Struct, frozen=True, kw_only=True):
    """One server-sent event: `id` is the log sequence it reflects."""

    id: int
    event: str
    data: dict[str, Any]


def progress_data(s: JobState) -> dict[str, Any]:
    finished = s.done + s.failed
    total = max(s.total, finished)
    percent = 100.0 if s.status == JobStatus.SUCCESS else (100.0 * finished / total if total else 0)
    return {
        "job_id": s.id, "status": s.status, "done": s.done, "failed": s.failed,
        "total": total, "skipped": s.skipped, "percentage": round(percent, 1),
    }  # fmt: skip


def status_data(s: JobState, kind: str) -> dict[str, Any]:
    return {
        "job_id": s.id, "status": s.status, "status_name": JobStatus(s.status).name.lower(),
        "event": kind, "error": s.error, "cancel_requested": s.cancel_requested,
        "deleted": s.deleted, "parent_job_id": s.parent_job_id,
    }  # fmt: skip


def page_data(e: PageRecorded) -> dict[str, Any]:
    return {**e.meta, "url": e.url, "ok": e.ok, "status": e.status, "error": e.error}


def is_final(s: JobState) -> bool:
    return s.is_done or s.deleted


class JobFrames:
    """Turns one job's events into frames, folding its state as it goes (no I/O)."""

    def __init__(self, state: JobState | None, sent: int, interval: float) -> None:
        self.state = state
        self.sent = sent
        self.interval = interval
        self._dirty = False
        self._last_progress = 0.0

    def on_event(self, seq: int, event: AnyEvent, now: float) -> list[Frame]:
        if seq <= self.sent:
            return []  # already sent from the catch-up read
        self.sent = seq
        self.state = evolve(self.state, event)
        match event:
            case PageRecorded():
                self._dirty = True
                return [Frame(id=seq, event="page", data=page_data(event)), *self.due(now)]
            case ProgressReported() | ChildFinished():
                self._dirty = True
                return self.due(now)
            case LogWritten(level=level, message=message):
                data = {"job_id": event.job_id, "level": level, "message": message, "at": event.at}
                return [Frame(id=seq, event="log", data=data)]
        frames = self.due(now, force=True)
        frames.append(Frame(id=seq, event="status", data=status_data(self.state, kind_of(event))))
        return frames + self.final()

    def due(self, now: float, force: bool = False) -> list[Frame]:
        """A progress frame if counters changed and the interval passed (or `force`)."""
        if not self._dirty or self.state is None:
            return []
        if not force and now - self._last_progress < self.interval:
            return []
        self._dirty = False
        self._last_progress = now
        return [Frame(id=self.sent, event="progress", data=progress_data(self.state))]

    def wait_time(self, now: float) -> float | None:
        """How long the caller may wait for events before a pending progress frame is due."""
        if not self._dirty:
            return None
        return max(0.0, self.interval - (now - self._last_progress))

    def final(self) -> list[Frame]:
        if self.state is None or not is_final(self.state):
            return []
        return [Frame(id=self.sent, event="done", data=progress_data(self.state) | {
            "status_name": JobStatus(self.state.status).name.lower(), "error": self.state.error,
            "deleted": self.state.deleted,
        })]  # fmt: skip


class JobFeed:
    """Streams of single jobs, served from the log plus one shared hub."""

    def __init__(self, store: EventStore, hub: Hub, *, progress_interval: float = 0.25) -> None:
        self.store = store
        self.hub = hub
        self.progress_interval = progress_interval

    async def frames(
        self, job_id: str, last_id: int | None, snapshot: Snapshot
    ) -> AsyncGenerator[Frame, None]:
        """The frames of `batches`, one by one."""
        async with contextlib.aclosing(self.batches(job_id, last_id, snapshot)) as batches:
            async for batch in batches:
                for frame in batch:
                    yield frame

    async def batches(
        self, job_id: str, last_id: int | None, snapshot: Snapshot
    ) -> AsyncGenerator[list[Frame], None]:
        """Snapshot (or the frames after `last_id`), then live frames until the job ends.

        Frames come in batches: whatever was ready together, so a reader that fell behind
        catches up in few writes. Ends early with an `error` frame naming the id to resume
        from when the reader falls too far behind or the server shuts down.
        """
        with self.hub.reader(job_id=job_id) as reader:
            history = await self.store.history(job_id)
            frames = self._start(history, last_id, snapshot)
            if frames.state.state is None and last_id is None:
                yield [Frame(id=0, event="error", data={"reason": f"job {job_id} has no events"})]
                return
            if frames.initial:
                yield frames.initial
            if frames.state.state is not None and is_final(frames.state.state):
                return
            async for batch in self._live(reader, frames.state):
                yield batch

    def _start(self, history: list[Stored], last_id: int | None, snapshot: Snapshot) -> _Start:
        now = time.monotonic()
        if last_id is None:
            state = fold((s.seq, s.event) for s in history)
            if state is None:
                return _Start(JobFrames(None, 0, self.progress_interval), [])
            jf = JobFrames(state, state.version, self.progress_interval)
            first = Frame(id=state.version, event="snapshot", data=snapshot(state))
            return _Start(jf, [first, *jf.final()])
        before = fold((s.seq, s.event) for s in history if s.seq <= last_id)
        jf = JobFrames(before, last_id, self.progress_interval)
        out = [f for s in history if s.seq > last_id for f in jf.on_event(s.seq, s.event, now)]
        out += jf.due(now, force=True)
        if before is not None and is_final(before) and not out:
            out = jf.final()
        return _Start(jf, out)

    async def _live(self, reader: Reader, jf: JobFrames) -> AsyncGenerator[list[Frame], None]:
        while True:
            try:
                item = await reader.next(jf.wait_time(time.monotonic()))
            except (SlowReader, HubStopped) as e:
                error = Frame(id=jf.sent, event="error", data={"reason": str(e), "resume": jf.sent})
                yield [*jf.due(time.monotonic(), force=True), error]
                return
            now = time.monotonic()
            if item is None:
                if batch := jf.due(now):
                    yield batch
                continue
            batch = jf.on_event(item[0], item[1], now)
            for seq, event in reader.ready():
                batch += jf.on_event(seq, event, now)
            if batch:
                yield batch
            if jf.state is not None and is_final(jf.state):
                return


class _Start(NamedTuple):
    state: JobFrames
    initial: list[Frame]
