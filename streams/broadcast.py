"""A job's encoded frames shared by all its live readers: one list, one wake-up per append.

Each reader keeps its place (an index) in the list and takes everything after it in one go,
so a reader woken once per loop turn sends all that turn's frames as one chunk. Appending
costs the same for one reader as for a thousand: the frames are stored once and a single
future, which every waiting reader awaits, is resolved (no per-reader queue or wake-up call).

A reader may also park (`park`) with a `Deliver` callable: while it is parked and has taken
everything, what is published is handed to that callable in the publishing call itself (an
SSE response writes it to its connection at once), so a live reader costs no task switch
per frame. A delivery refused (the connection cannot take more now), a final frame or the
close wakes the reader, which then takes what is left as any other.

Memory stays bounded: the list keeps only what some reader has not taken yet. A reader more
than `max_pending` frames behind (checked every `TRIM_EVERY` appends at most) is overflowed:
it is left its next `max_pending` frames, then SlowReader, so its client learns where to
resume; the list no longer waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

from streams.errors import HubStopped, SlowReader

TRIM_EVERY = 256  # appends between two scans of the readers' places


class Wire(NamedTuple):
    """An encoded frame and the log sequence it reflects."""

    id: int
    data: bytes


# Hands a parked reader the frames just published (and them joined, as one chunk): True
# once they are delivered, False when they cannot be now (the reader then takes them).
Deliver = Callable[[list["Wire"], bytes], bool]


class Subscriber:
    """One reader's place in its broadcast: what it has taken, and what an overflow left it."""

    __slots__ = ("_frames", "joined", "left", "position")

    def __init__(self, frames: Broadcast, position: int) -> None:
        self._frames = frames
        self.joined = position  # frames before it are not this reader's (its catch-up has them)
        self.position = position
        self.left: list[Wire] | None = None  # set once overflowed: the frames still its own

    async def take(self) -> list[Wire]:
        """Every frame after this reader's place, waiting for one; never empty.

        Raises SlowReader once an overflowed reader has taken what it was left, HubStopped
        once the broadcast is closed and this reader has taken everything.
        """
        while True:
            wires = self.poll()
            if wires is not None:
                return wires
            await self._frames.wait()

    def poll(self) -> list[Wire] | None:
        """Every frame after this reader's place, None when there is none yet (no waiting:
        a reader calls `wait()` of its broadcast then). Raises as `take`."""
        if self.left is not None:
            return self._leftover()
        frames = self._frames
        end = frames.base + len(frames.wires)
        if self.position < end:
            wires = frames.wires[self.position - frames.base :]
            self.position = end
            return wires
        if frames.closed:
            raise HubStopped("the server is shutting down")
        return None

    def _leftover(self) -> list[Wire]:
        left = self.left
        if not left:
            raise SlowReader(f"client too slow: over {self._frames.max_pending} events pending")
        self.left = []
        return left

    @property
    def pending(self) -> int:
        """Frames published but not taken yet (those an overflow left it, once overflowed)."""
        if self.left is not None:
            return len(self.left)
        return self._frames.base + len(self._frames.wires) - self.position

    @property
    def final(self) -> bool:
        """Whether a frame ending the job was published since this reader joined (and it
        was not overflowed: an overflowed reader ends with SlowReader)."""
        return self.left is None and self._frames.final_end > self.joined


class Broadcast:
    """The frames of one job published to every subscriber, each taking them at its pace."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.wires: list[Wire] = []
        self.base = 0  # the index of wires[0] among every frame ever published
        self.final_end = -1  # the end of the latest publish that carried a final frame
        self.closed = False
        self.subscribers: set[Subscriber] = set()
        self.waiting = 0  # readers waiting for the next publish
        self.parked: dict[Subscriber, tuple[Deliver, asyncio.Future[None]]] = {}
        self._tick: asyncio.Future[None] | None = None
        self._trim_at = min(TRIM_EVERY, max_pending)

    def subscribe(self) -> Subscriber:
        """A reader of everything published from now on."""
        sub = Subscriber(self, self.base + len(self.wires))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers:
            self.base += len(self.wires)
            self.wires.clear()

    def publish(self, wires: list[Wire], final: bool) -> None:
        """Hand `wires` to every subscriber; `final`: they end the job's stream."""
        start = self.base + len(self.wires)
        self.wires.extend(wires)
        if final:
            self.final_end = start + len(wires)
        if self.parked:
            self._deliver(wires, start, final)
        if len(self.wires) > self._trim_at:
            self._trim()
        self._wake()

    def close(self) -> None:
        """No more frames: each subscriber gets HubStopped once it has taken the rest."""
        self.closed = True
        self._unpark_all()
        self._wake()

    async def park(self, sub: Subscriber, deliver: Deliver) -> None:
        """Until `sub` must take frames itself: meanwhile what is published goes to
        `deliver` at once (see the module's docstring). Call it when `poll` found nothing."""
        woken = asyncio.get_running_loop().create_future()
        self.parked[sub] = (deliver, woken)
        try:
            await woken
        finally:
            if self.parked.get(sub, (None, None))[1] is woken:
                del self.parked[sub]

    def _deliver(self, wires: list[Wire], start: int, final: bool) -> None:
        """The parked readers given `wires` (published at `start`) directly; those who
        cannot take them so, or must see a final frame themselves, are woken."""
        if final:
            self._unpark_all()
            return
        end = start + len(wires)
        data = wires[0].data if len(wires) == 1 else b"".join(w.data for w in wires)
        for sub, (deliver, woken) in list(self.parked.items()):
            if sub.position == start and deliver(wires, data):
                sub.position = end
                continue
            del self.parked[sub]
            woken.set_result(None)

    def _unpark_all(self) -> None:
        parked, self.parked = self.parked, {}
        for _, woken in parked.values():
            if not woken.done():
                woken.set_result(None)

    async def wait(self) -> None:
        """Until the next publish or close (returns early, harmlessly, in rare cases)."""
        tick = self._tick
        if tick is None:
            tick = self._tick = asyncio.get_running_loop().create_future()
        self.waiting += 1
        try:
            await tick
        except asyncio.CancelledError:
            # Cancelling a task cancels the future it awaits, which every reader shares here:
            # the other readers wake with CancelledError too; they just look again.
            if self._tick is tick:
                self._tick = None
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
        finally:
            self.waiting -= 1

    def _wake(self) -> None:
        tick, self._tick = self._tick, None
        if tick is not None and not tick.done():
            tick.set_result(None)

    def _trim(self) -> None:
        """Overflow readers too far behind; drop the frames every other reader has taken."""
        end = keep = self.base + len(self.wires)
        for sub in self.subscribers:
            if sub.left is not None:
                continue
            if end - sub.position > self.max_pending:
                start = sub.position - self.base
                sub.left = self.wires[start : start + self.max_pending]
            else:
                keep = min(keep, sub.position)
        del self.wires[: keep - self.base]
        self.base = keep
        self._trim_at = len(self.wires) + min(TRIM_EVERY, self.max_pending)
