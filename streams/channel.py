"""A job's live channel: its frames made and encoded once, shared by all its readers.

Every reader of a job would fold the same events into the same frames; the channel does it
once and publishes the encoded bytes to all its readers at once (streams/broadcast.py). A
channel attaches to the hub before its first reader reads the log, buffers live events
until that reader seeds it with the state it read, and from then on turns each event into
frames for everyone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from engine.domain.events import AnyEvent
from engine.domain.state import JobState
from streams.broadcast import Broadcast, Subscriber, Wire
from streams.frames import Frame, JobFrames

__all__ = ["JobChannel", "Subscriber", "Wire"]

Item = tuple[int, AnyEvent]


class JobChannel:
    """The hub's sink for one job's events while it has live readers."""

    def __init__(self, interval: float, encode: Callable[[Frame], bytes], max_pending: int) -> None:
        self.interval = interval
        self.encode = encode
        self.max_pending = max_pending
        self.frames = Broadcast(max_pending)
        self._frames: JobFrames | None = None
        self._buffer: list[Item] = []
        self._timer: asyncio.TimerHandle | None = None
        self.seeded_at = 0

    @property
    def subscribers(self) -> set[Subscriber]:
        return self.frames.subscribers

    def subscribe(self) -> Subscriber:
        return self.frames.subscribe()

    def unsubscribe(self, sub: Subscriber) -> None:
        self.frames.unsubscribe(sub)
        if not self.subscribers and self._timer is not None:
            self._timer.cancel()

    def seed(self, state: JobState | None, seq: int) -> int:
        """Start from `state` at `seq` unless started already; returns where it started."""
        if self._frames is None:
            self._frames = JobFrames(state, seq, self.interval)
            for item in self._buffer:
                self._apply(item)
            self._buffer.clear()
            self.seeded_at = seq
        return self.seeded_at

    def push(self, item: Item) -> None:
        if self._frames is None:
            self._buffer.append(item)
        else:
            self._apply(item)

    def close(self) -> None:
        self.frames.close()

    def _apply(self, item: Item) -> None:
        assert self._frames is not None
        self._publish(self._frames.on_event(item[0], item[1], time.monotonic()))

    def _publish(self, frames: list[Frame]) -> None:
        assert self._frames is not None
        if frames:
            self.frames.publish([Wire(f.id, self.encode(f)) for f in frames], self._frames.ended)
        self._schedule()

    def _schedule(self) -> None:
        assert self._frames is not None
        wait = self._frames.wait_time(time.monotonic())
        if wait is None or (self._timer is not None and not self._timer.cancelled()):
            return
        self._timer = asyncio.get_running_loop().call_later(wait, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._frames is not None and self.subscribers:
            self._publish(self._frames.due(time.monotonic()))
