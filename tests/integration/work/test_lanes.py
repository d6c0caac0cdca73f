"""Taking work items (engine/jetstream/pickup.py) against a real nats-server: one pull takes
an item for each slot waiting, and items kept for slots that never took them go back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

from engine.jetstream.pickup import Lanes
from engine.jetstream.work import WORK_STREAM, consumer_name, ensure_work
from tests.support import wait_until


@pytest.fixture
async def queued(nc: NATS) -> AsyncIterator[Lanes]:
    """Lanes for four slots, opened once six items wait on the normal lane (published before
    the lanes listen for rings, so no waiting slot is woken by them)."""
    js = nc.jetstream()
    await ensure_work(js)
    for n in range(6):
        await js.publish("work.normal", str(n).encode())
    lanes = Lanes(nc, slots=4, idle_s=30.0)
    await lanes.open()
    yield lanes
    await lanes.close()


async def in_hand(nc: NATS) -> int:
    info = await nc.jetstream().consumer_info(WORK_STREAM, consumer_name("normal"))
    return int(info.num_ack_pending or 0)


async def test_one_pull_takes_an_item_for_each_waiting_slot(nc: NATS, queued: Lanes) -> None:
    waiting = [asyncio.create_task(queued.wait(30.0)) for _ in range(3)]
    await wait_until(lambda: queued.waiting == 3)
    first = await queued.take(everything=True)
    assert first is not None and first.data == b"0"
    assert await in_hand(nc) == 4  # one pull: this slot's item and one per waiting slot
    await asyncio.wait(waiting, timeout=5)
    assert all(t.done() for t in waiting)  # each woken to take its item
    handed = [await queued.take() for _ in range(3)]
    assert [m.data for m in handed if m is not None] == [b"1", b"2", b"3"]
    assert await in_hand(nc) == 4  # taken without another pull
    fifth = await queued.take(everything=True)
    assert fifth is not None and fifth.data == b"4" and await in_hand(nc) == 5


async def test_items_kept_for_slots_that_never_took_them_go_back(nc: NATS, queued: Lanes) -> None:
    waiting = [asyncio.create_task(queued.wait(30.0)) for _ in range(2)]
    await wait_until(lambda: queued.waiting == 2)
    first = await queued.take(everything=True)
    assert first is not None and await in_hand(nc) == 3
    await asyncio.wait(waiting, timeout=5)
    await queued.close()  # the worker stops before those slots take theirs
    other = Lanes(nc, slots=1, idle_s=30.0)  # e.g. another worker: they come back at once
    await other.open()
    try:
        again = [await other.take(everything=True) for _ in range(2)]
    finally:
        await other.close()
    assert sorted(m.data for m in again if m is not None) == [b"1", b"2"]


async def test_slots_asking_at_once_share_their_pulls(nc: NATS, queued: Lanes) -> None:
    """Four slots asking together for items of a full lane: two pulls, not four (one for
    the first slot, one for the three that asked while it was on its way)."""
    pulls: list[int] = []
    [sub] = [sub for lane, sub in queued._pulls if lane == "normal"]
    fetch = sub.fetch

    async def counted(batch: int = 1, *args: object, **kwargs: object) -> object:
        pulls.append(batch)  # counted on the normal lane's subscription
        return await fetch(batch, *args, **kwargs)

    sub.fetch = counted
    taken = await asyncio.gather(*(queued.take(everything=True) for _ in range(4)))
    assert sorted(m.data for m in taken if m is not None) == [b"0", b"1", b"2", b"3"]
    assert pulls == [1, 3]
    assert await in_hand(nc) == 4
