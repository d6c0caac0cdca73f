"""Taking work items: high before normal before low, and at once when one is published.

A JetStream pull request waits on one lane only, so a slot that long-polled its last lane
saw an item published on another lane only when that poll expired (up to a second after
the publish). Here each worker also follows `work.>` as plain NATS messages: every publish
of a work item rings its lane. Per lane the worker keeps the ring count at the start of the
last poll that came back empty; a lane rung since then (or never found empty) may hold
something. A slot polls those lanes in priority order and, when none may, waits for a ring.
Every lane is polled anyway at least every `idle_s` (by whichever slot comes first), for
items that come back without a publish: redelivered after ack_wait, or nak'd with a delay.
A poll that comes back empty marks its lane empty only once the consumer says it has no
item pending (a loaded server may answer a pull later than the poll waits).

Slots polling one lane at the same time share its pulls: one pull per lane is on its way
at a time, for every slot asking then; slots that ask meanwhile wait for it and take what
it brought, or make the next pull together. (One pull per slot made a pull's round trip,
some 20 ms on a loaded two-core machine, the cost of every item: 16 slots then took about
600 items/s from a full lane.) When more items are queued behind a pull's and slots are
waiting for work, one more pull takes one for each of them (woken, they take it before
polling), so a burst of items costs two pulls, not one per slot. Only slots asking or
waiting are counted: an item is never held for a slot that is busy (it would wait
unheartbeated, and another worker could run it meanwhile). One exception is left: a pull
the server answers after its slot stopped waiting (a loaded server) leaves its item in
nats-py's queue for that lane, where the next poll of the lane takes it, or, when no slot
polls within ack_wait, the server hands it back to whoever asks next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from engine.jetstream.work import LANES, WORK_STREAM, consumer_name

_MAY_HOLD = -1  # a lane's empty mark when its last poll found an item


class Lanes:
    """One worker's priority lanes and its doorbell, shared by the worker's slots."""

    def __init__(self, nc: NATS, *, slots: int, idle_s: float, poll_s: float = 0.05) -> None:
        self._nc = nc
        self.idle_s = idle_s
        self._poll_s = poll_s
        self._pulls: list[tuple[str, Any]] = []
        self._rings = dict.fromkeys((lane for _, lane in LANES), 0)
        self._empty_at = dict.fromkeys(self._rings, _MAY_HOLD)
        self._swept_at = float("-inf")
        # one wake-up per ring for a waiting slot; bounded, since a slot polls before waiting
        self._wakeups: asyncio.Queue[None] = asyncio.Queue(maxsize=max(1, slots))
        self._bell: Subscription | None = None
        self._waiting = 0  # slots in `wait`
        self._ready: deque[Msg] = deque()  # items fetched for waiting slots
        # a lane's pull on its way; its result: whether it brought all it asked for
        self._flights: dict[str, asyncio.Future[bool]] = {}
        self._asking = dict.fromkeys(self._rings, 0)  # slots waiting for a lane's pull
        self._brought: dict[str, deque[Msg]] = {lane: deque() for lane in self._rings}

    async def open(self) -> None:
        """Listen for rings first, then bind the lanes: no item published after is missed."""
        self._bell = await self._nc.subscribe("work.>", cb=self._ring)
        js = self._nc.jetstream()
        for _, lane in LANES:
            sub = await js.pull_subscribe_bind(consumer_name(lane), WORK_STREAM)
            self._pulls.append((lane, sub))

    async def close(self) -> None:
        """Unsubscribe; items fetched for slots that did not take them are given back."""
        kept = [self._ready, *self._brought.values()]
        for msg in [m for queue in kept for m in queue]:
            with contextlib.suppress(Exception):
                await msg.nak()
        for queue in kept:
            queue.clear()
        subs = [sub for _, sub in self._pulls] + ([self._bell] if self._bell else [])
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._pulls.clear()
        self._bell = None

    @property
    def waiting(self) -> int:
        """Slots waiting for work now (in `wait`)."""
        return self._waiting

    @property
    def quiet(self) -> bool:
        """Every lane was found empty and none has rung since."""
        return all(self._rings[lane] == self._empty_at[lane] for lane in self._rings)

    async def take(self, *, everything: bool = False) -> Msg | None:
        """The oldest item of the highest lane that has one, or None.

        Polls, for up to `poll_s` each, the lanes that may hold an item: all of them when
        `everything`, or when no slot has polled them all for `idle_s`. Raises
        nats.errors.Error when NATS cannot be reached.
        """
        if self._ready:
            return self._ready.popleft()
        now = asyncio.get_running_loop().time()
        if everything or now - self._swept_at >= self.idle_s:
            everything, self._swept_at = True, now
        for lane, sub in self._pulls:
            if not everything and self._rings[lane] == self._empty_at[lane]:
                continue
            msg = await self._poll(lane, sub)
            if msg is not None:
                return msg
        return None

    async def _poll(self, lane: str, sub: Any) -> Msg | None:
        """An item of `lane` for the calling slot: one a pull on its way brings, or one of
        a pull made for this slot and every other one asking; None when the lane had none
        (a pull came back with fewer items than it asked for)."""
        while not self._brought[lane]:
            flight = self._flights.get(lane)
            if flight is None:
                return await self._pull(lane, sub)
            self._asking[lane] += 1
            try:
                full = await asyncio.shield(flight)
            finally:
                self._asking[lane] -= 1
            if not full and not self._brought[lane]:
                return None
        return self._brought[lane].popleft()

    async def _pull(self, lane: str, sub: Any) -> Msg | None:
        """One pull of `lane` for this slot and the slots asking for it now (`_poll`), and
        one for the slots waiting (`_fetch_for_waiting`): one fetch on the lane's
        subscription at a time (nats-py's fetches on one subscription take each other's
        answers)."""
        flight = self._flights[lane] = asyncio.get_running_loop().create_future()
        rings = self._rings[lane]  # before the poll: a ring during it keeps the lane open
        msgs: list[Msg] = []
        wanted = 1 + self._asking[lane]
        try:
            msgs = await sub.fetch(wanted, timeout=self._poll_s)
            if msgs:
                self._empty_at[lane] = _MAY_HOLD
                await self._fetch_for_waiting(sub, msgs[-1])
        except TimeoutError:  # nats-py raises its own subclass, or a plain one near expiry
            if not await self._holds(sub):
                self._empty_at[lane] = rings
        finally:
            del self._flights[lane]
            self._brought[lane].extend(msgs[1:])
            flight.set_result(len(msgs) == wanted)
        return msgs[0] if msgs else None

    async def _fetch_for_waiting(self, sub: Any, first: Msg) -> None:
        """Items for the slots waiting, when `first` says more are queued behind it: one pull
        for them all, each kept for one of them and one woken for each. Only then: a pull
        for more items than are queued waits its whole expiry for the rest."""
        more = min(self._waiting - len(self._ready), int(first.metadata.num_pending or 0))
        if more < 1:
            return
        try:
            extra: list[Msg] = await sub.fetch(more, timeout=self._poll_s)
        except TimeoutError:  # taken by another worker meanwhile
            return
        self._ready.extend(extra)
        for _ in extra:
            with contextlib.suppress(asyncio.QueueFull):
                self._wakeups.put_nowait(None)

    async def _holds(self, sub: Any) -> bool:
        """After a poll that came back empty: whether the lane still has items for us. A
        busy server may answer a pull after `poll_s`; such a lane must not wait for a ring
        or the next sweep (up to `idle_s`) while its items are there."""
        info = await sub.consumer_info()
        return int(info.num_pending or 0) > 0

    async def wait(self, timeout: float) -> None:
        """Until an item is published or fetched for this slot, `interrupt` is called, or
        `timeout` seconds pass."""
        self._waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeups.get(), timeout)
        finally:
            self._waiting -= 1

    def interrupt(self) -> None:
        """Wake every waiting slot (the worker is draining)."""
        with contextlib.suppress(asyncio.QueueFull):
            while True:
                self._wakeups.put_nowait(None)

    async def _ring(self, msg: Msg) -> None:
        lane = msg.subject.rpartition(".")[2]
        if lane in self._rings:
            self._rings[lane] += 1
        with contextlib.suppress(asyncio.QueueFull):
            self._wakeups.put_nowait(None)
