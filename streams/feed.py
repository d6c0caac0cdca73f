"""One job's live stream: snapshot or catch-up from the log, then its channel's live frames.

A reader reads the log itself up to where it joins, so it never depends on what the channel
happened to see; from the join on it takes the channel's shared, already encoded frames.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import NamedTuple

from engine.domain.state import fold
from engine.jetstream.store import EventStore, Stored
from streams.channel import JobChannel, Subscriber
from streams.errors import HubStopped, SlowReader
from streams.frames import Frame, JobFrames, Snapshot, is_final
from streams.hub import Hub
from streams.wire import WireCache

Encode = Callable[[Frame], bytes]


class JobFeed:
    """Streams of single jobs, served from the log plus one channel per watched job."""

    def __init__(
        self, store: EventStore, hub: Hub, *, progress_interval: float = 0.25,
        max_pending: int = 10_000,
    ) -> None:  # fmt: skip
        self.store = store
        self.hub = hub
        self.progress_interval = progress_interval
        self.max_pending = max_pending
        self.wire = WireCache()
        self._channels: dict[str, JobChannel] = {}

    async def stream(
        self, job_id: str, last_id: int | None, snapshot: Snapshot
    ) -> AsyncGenerator[bytes, None]:
        """The SSE bytes of the job: snapshot (or the frames after `last_id`), then live
        frames until the job ends; what was ready together goes out in one chunk.

        Ends early with an `error` frame naming the id to resume from when the reader falls
        too far behind or the server shuts down.
        """
        encode = self._encoder(job_id)
        with self._subscribed(job_id) as (channel, sub):
            first, joined = await self._catch_up(job_id, channel, last_id, snapshot)
            if first:
                yield b"".join(encode(f) for f in first)
            if joined is None:
                return
            async for chunk in self._live(sub, joined):
                yield chunk

    def _encoder(self, job_id: str) -> Encode:
        def encode(frame: Frame) -> bytes:
            return self.wire.encode(job_id, frame)

        return encode

    @contextlib.contextmanager
    def _subscribed(self, job_id: str) -> Iterator[tuple[JobChannel, Subscriber]]:
        channel = self._channels.get(job_id)
        if channel is None:
            channel = JobChannel(self.progress_interval, self._encoder(job_id), self.max_pending)
            self._channels[job_id] = channel
            self.hub.attach(job_id, channel)
        sub = channel.subscribe()
        try:
            yield channel, sub
        finally:
            channel.unsubscribe(sub)
            if not channel.subscribers:
                self.hub.detach(job_id, channel)
                del self._channels[job_id]

    async def _catch_up(
        self, job_id: str, channel: JobChannel, last_id: int | None, snapshot: Snapshot
    ) -> tuple[list[Frame], int | None]:
        """This reader's own first frames from the log, and the id it joins the channel at
        (None: the stream ends after them)."""
        history = await self.store.history(job_id)
        start = _start(history, last_id, snapshot, self.progress_interval)
        if start.frames.state is None and last_id is None:
            reason = {"reason": f"job {job_id} has no events"}
            return [Frame(id=0, event="error", data=reason)], None
        first = start.initial
        seeded_at = channel.seed(start.frames.state, start.frames.sent)
        if seeded_at > start.frames.sent:  # the channel started later: fill the gap ourselves
            more = await self.store.history(job_id, start.frames.sent + 1)
            gap = ((s.seq, s.event) for s in more if s.seq <= seeded_at)
            first += start.frames.replay(gap, time.monotonic())
        if start.frames.ended:
            return first, None
        return first, start.frames.sent

    async def _live(self, sub: Subscriber, joined: int) -> AsyncGenerator[bytes, None]:
        sent, fresh = joined, False
        while True:
            try:
                wires = await sub.take()
            except (SlowReader, HubStopped) as e:
                error = Frame(id=sent, event="error", data={"reason": str(e), "resume": sent})
                yield self.wire.encode("", error)
                return
            if not fresh:  # frames the reader's own catch-up covered already
                wires = [w for w in wires if w.id > joined]
                fresh = bool(wires)
            if wires:
                sent = wires[-1].id
                yield b"".join(w.data for w in wires)
            if sub.final and not sub.pending:
                return


class _Start(NamedTuple):
    frames: JobFrames
    initial: list[Frame]


def _start(
    history: list[Stored], last_id: int | None, snapshot: Snapshot, interval: float
) -> _Start:
    if last_id is None:
        state = fold((s.seq, s.event) for s in history)
        if state is None:
            return _Start(JobFrames(None, 0, interval), [])
        jf = JobFrames(state, state.version, interval)
        first = Frame(id=state.version, event="snapshot", data=snapshot(state))
        return _Start(jf, [first, *jf.final()])
    before = fold((s.seq, s.event) for s in history if s.seq <= last_id)
    jf = JobFrames(before, last_id, interval)
    out = jf.replay(((s.seq, s.event) for s in history if s.seq > last_id), time.monotonic())
    if before is not None and is_final(before) and not out:
        out = jf.final()
    return _Start(jf, out)
