"""One job's live stream: snapshot or catch-up from the log, then its channel's live frames.

A reader reads the log itself up to where it joins, so it never depends on what the channel
happened to see; from the join on it takes the channel's shared, already encoded frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from engine.domain.state import fold
from engine.jetstream.store import EventStore, Stored
from streams.channel import JobChannel, Subscriber, Wire
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

    def stream(self, job_id: str, last_id: int | None, snapshot: Snapshot) -> JobStream:
        """The SSE bytes of the job: snapshot (or the frames after `last_id`), then live
        frames until the job ends; what was ready together goes out in one chunk.

        Ends early with an `error` frame naming the id to resume from when the reader falls
        too far behind or the server shuts down.
        """
        return JobStream(self, job_id, last_id, snapshot)

    def direct_readers(self, job_id: str) -> int:
        """Readers of the job parked now: handed its live frames as they are published."""
        channel = self._channels.get(job_id)
        return 0 if channel is None else len(channel.frames.parked)

    def encoder(self, job_id: str) -> Encode:
        def encode(frame: Frame) -> bytes:
            return self.wire.encode(job_id, frame)

        return encode

    def subscribe(self, job_id: str) -> tuple[JobChannel, Subscriber]:
        """A new reader of the job's channel (made and attached to the hub if need be)."""
        channel = self._channels.get(job_id)
        if channel is None:
            channel = JobChannel(self.progress_interval, self.encoder(job_id), self.max_pending)
            self._channels[job_id] = channel
            self.hub.attach(job_id, channel)
        return channel, channel.subscribe()

    def unsubscribe(self, job_id: str, channel: JobChannel, sub: Subscriber) -> None:
        """`sub` leaves; the channel leaves the hub with its last reader."""
        channel.unsubscribe(sub)
        if not channel.subscribers and self._channels.get(job_id) is channel:
            self.hub.detach(job_id, channel)
            del self._channels[job_id]

    async def catch_up(
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


class JobStream:
    """One reader's stream of a job, as an async iterator of SSE chunks.

    A plain iterator rather than an async generator: each live chunk is one `__anext__`
    call, with no generator frames between the SSE response and the channel's frames. It
    joins the job's channel on the first `__anext__` and leaves it when it ends or on
    `aclose()` (which the SSE response always calls).
    """

    def __init__(self, feed: JobFeed, job_id: str, last_id: int | None, snapshot: Snapshot):
        self._feed = feed
        self._job_id = job_id
        self._last_id = last_id
        self._snapshot = snapshot
        self._joined: tuple[JobChannel, Subscriber] | None = None
        self._done = False
        self._first = True  # the frames its own catch-up covered may still come live
        self._from = 0  # the id it joined the channel at
        self.sent = 0  # the id of the last frame it sent: where its client would resume
        self._direct: Callable[[bytes], bool] | None = None

    def __aiter__(self) -> JobStream:
        return self

    def write_directly(self, write: Callable[[bytes], bool]) -> None:
        """Live frames go to `write` (which writes a chunk to the connection now, or says
        it cannot) as they are published, while this stream waits for them: no task
        switch and no call through the ASGI server per frame. What `write` refuses comes
        out of this iterator as before; so do the first frames and the end."""
        self._direct = write

    def _deliver(self, wires: list[Wire], data: bytes) -> bool:
        if not self._direct or not self._direct(data):
            return False
        self.sent = wires[-1].id
        return True

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        if self._joined is None:
            return await self._start()
        channel, sub = self._joined
        while True:
            try:
                wires = sub.poll()  # polled here, not awaited in `take`: one coroutine less
            except (SlowReader, HubStopped) as e:
                return self._error(e)
            if wires is None:
                await self._next_publish(channel, sub)
                continue
            if self._first:
                wires = [w for w in wires if w.id > self._from]
                self._first = not wires
            if sub.final and not sub.pending:
                self._end()
            if wires:
                self.sent = wires[-1].id
                return wires[0].data if len(wires) == 1 else b"".join(w.data for w in wires)
            if self._done:
                raise StopAsyncIteration

    async def _next_publish(self, channel: JobChannel, sub: Subscriber) -> None:
        """Until frames are published that this stream must send itself: parked, with its
        live frames written directly, once its own catch-up is behind it."""
        if self._direct is not None and not self._first:
            await channel.frames.park(sub, self._deliver)
        else:
            await channel.frames.wait()

    def _error(self, e: Exception) -> bytes:
        """The last frame of a reader ended early: why, and the id to resume from."""
        self._end()
        error = Frame(id=self.sent, event="error", data={"reason": str(e), "resume": self.sent})
        return self._feed.wire.encode("", error)

    async def _start(self) -> bytes:
        feed = self._feed
        self._joined = feed.subscribe(self._job_id)
        channel = self._joined[0]
        try:
            await feed.hub.follow()  # before the catch-up: later events reach the channel
            first, joined = await feed.catch_up(
                self._job_id, channel, self._last_id, self._snapshot
            )
        except BaseException:
            self._end()
            raise
        if joined is None:
            self._end()
        else:
            self._from = self.sent = joined
        if first:
            encode = feed.encoder(self._job_id)
            return b"".join(encode(f) for f in first)
        return await self.__anext__()

    def _end(self) -> None:
        self._done = True
        if self._joined is not None:
            self._feed.unsubscribe(self._job_id, *self._joined)
            self._joined = None

    async def aclose(self) -> None:
        """End the stream and leave the channel (idempotent)."""
        self._end()


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
