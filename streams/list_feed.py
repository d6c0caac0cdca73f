"""The jobs feed: status and progress changes of every job a caller may see (a dashboard's feed).

Rows come from the read model after it has applied the events that marked them changed, so
the feed shows exactly what the list endpoint would, filters included. Changes are coalesced
per job and flushed at most once per interval; a frame's id is the sequence of the last event
it reflects, and frames go out in sequence order, so resuming with `Last-Event-ID` re-sends
every job changed after that id.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import aiosqlite

from projections.live import jobs_changed_since, jobs_matching
from projections.projector import Projector
from projections.queries import JobFilter, JobRow, list_jobs
from streams.errors import HubStopped, SlowReader
from streams.frames import Frame
from streams.hub import Hub, Reader

Render = Callable[[JobRow], dict[str, Any]]
SNAPSHOT_LIMIT = 100
RESUME_LIMIT = 1000


class _Seen:
    """What the client was last told about each job, to send only real changes."""

    def __init__(self) -> None:
        self.sent: dict[str, tuple[int, int, int, int, int]] = {}

    def frame(self, seq: int, job_id: str, row: JobRow | None, render: Render) -> Frame | None:
        if row is None:
            if self.sent.pop(job_id, None) is None:
                return None
            return Frame(id=seq, event="removed", data={"id": job_id})
        key = (row.status, row.done, row.failed, row.total, row.skipped)
        before = self.sent.get(job_id)
        self.sent[job_id] = key
        if before == key:
            return None
        kind = "status" if before is None or before[0] != row.status else "progress"
        return Frame(id=seq, event=kind, data=render(row))


class ListFeed:
    """Feeds of many jobs, served from the read model and woken by the hub."""

    def __init__(
        self, db: aiosqlite.Connection, projector: Projector, hub: Hub, *, interval: float = 0.25
    ) -> None:
        self.db = db
        self.projector = projector
        self.hub = hub
        self.interval = interval

    async def frames(
        self, f: JobFilter, last_id: int | None, render: Render
    ) -> AsyncGenerator[Frame, None]:
        """A snapshot of the first page (or the jobs changed after `last_id`), then changes."""
        seen = _Seen()
        with self.hub.reader(owner=f.viewer) as reader:
            position = await self.hub.follow()  # before any read: later events reach us
            await self.projector.wait_for(position)
            dirty: dict[str, int] = {}
            if last_id is None:
                yield await self._snapshot(f, position, render, seen)
            else:
                changed, too_many = await jobs_changed_since(self.db, last_id, RESUME_LIMIT)
                if too_many:
                    yield Frame(id=last_id, event="reset", data={"reason": "too many changes"})
                    return
                dirty.update(changed)
                seen.sent.update(dict.fromkeys(dirty, (-1, 0, 0, 0, 0)))  # unknown to the client
            async for frame in self._live(reader, f, dirty, render, seen):
                yield frame

    async def _snapshot(self, f: JobFilter, position: int, render: Render, seen: _Seen) -> Frame:
        total, rows = await list_jobs(self.db, f, 0, SNAPSHOT_LIMIT)
        for row in rows:
            seen.frame(position, row.id, row, render)
        data = {"total": total, "items": [render(r) for r in rows]}
        return Frame(id=position, event="snapshot", data=data)

    async def _live(
        self, reader: Reader, f: JobFilter, dirty: dict[str, int], render: Render, seen: _Seen
    ) -> AsyncGenerator[Frame, None]:
        last_flush = 0.0
        last_item = self.hub.position
        while True:
            now = time.monotonic()
            if dirty and now - last_flush >= self.interval:
                for frame in await self._flush(f, dirty, render, seen):
                    yield frame
                dirty.clear()
                last_flush = now
            wait = self.interval - (now - last_flush) if dirty else None
            try:
                item = await reader.next(None if wait is None else max(0.0, wait))
            except (SlowReader, HubStopped) as e:
                resume = min(dirty.values()) - 1 if dirty else last_item
                yield Frame(id=resume, event="error", data={"reason": str(e), "resume": resume})
                return
            if item is not None:  # the hub sent only jobs of this viewer or of unknown owner
                last_item = item[0]
                dirty[item[1].job_id] = item[0]

    async def _flush(
        self, f: JobFilter, dirty: dict[str, int], render: Render, seen: _Seen
    ) -> list[Frame]:
        await self.projector.wait_for(max(dirty.values()))
        rows = await jobs_matching(self.db, f, dirty)
        frames = []
        for job_id, seq in sorted(dirty.items(), key=lambda kv: kv[1]):
            frame = seen.frame(seq, job_id, rows.get(job_id), render)
            if frame is not None:
                frames.append(frame)
        return frames
