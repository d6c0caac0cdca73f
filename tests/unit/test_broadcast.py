"""A job's shared frames: each reader takes every frame once, in order, at its own pace."""

from __future__ import annotations

import asyncio

import pytest

from streams.broadcast import TRIM_EVERY, Broadcast, Wire
from streams.errors import HubStopped, SlowReader
from tests.support import wait_until


def _wires(first: int, n: int) -> list[Wire]:
    return [Wire(i, b"frame %d" % i) for i in range(first, first + n)]


async def test_frames_published_in_one_turn_reach_each_reader_in_one_take() -> None:
    frames = Broadcast(max_pending=100)
    early = frames.subscribe()
    frames.publish(_wires(1, 1), final=False)
    late = frames.subscribe()  # joins after frame 1: never gets it
    assert [w.id for w in await early.take()] == [1]
    takes = [asyncio.create_task(sub.take()) for sub in (early, late)]
    await wait_until(lambda: frames.waiting == 2)
    frames.publish(_wires(2, 2), final=False)
    frames.publish(_wires(4, 1), final=False)  # the same turn: taken with frames 2 and 3
    got = await asyncio.gather(*takes)
    assert [[w.id for w in wires] for wires in got] == [[2, 3, 4], [2, 3, 4]]
    assert early.pending == late.pending == 0


async def test_cancelling_one_waiting_reader_leaves_the_others_waiting() -> None:
    frames = Broadcast(max_pending=100)
    subs = [frames.subscribe() for _ in range(3)]
    takes = [asyncio.create_task(sub.take()) for sub in subs]
    await wait_until(lambda: frames.waiting == 3)
    takes[0].cancel()  # cancels the future all three await
    with pytest.raises(asyncio.CancelledError):
        await takes[0]
    await wait_until(lambda: frames.waiting == 2)  # the other two wait again
    assert not takes[1].done() and not takes[2].done()
    frames.publish(_wires(1, 1), final=False)
    assert [[w.id for w in await t] for t in takes[1:]] == [[1], [1]]


async def test_a_reader_too_far_behind_gets_its_share_then_slow_reader() -> None:
    frames = Broadcast(max_pending=3)
    slow, quick = frames.subscribe(), frames.subscribe()
    for i in range(1, 11):
        frames.publish(_wires(i, 1), final=False)
        assert [w.id for w in await quick.take()] == [i]
    assert [w.id for w in await slow.take()] == [1, 2, 3]
    with pytest.raises(SlowReader, match="over 3 events pending"):
        await slow.take()
    assert not slow.final
    assert len(frames.wires) <= 3  # nobody needs the rest: they are gone


async def test_what_is_kept_stays_bounded_while_every_reader_keeps_up() -> None:
    frames = Broadcast(max_pending=10_000)
    sub = frames.subscribe()
    for i in range(5 * TRIM_EVERY):
        frames.publish(_wires(i, 1), final=False)
        await sub.take()
    assert len(frames.wires) <= TRIM_EVERY


async def test_a_close_ends_each_reader_after_what_it_has_not_taken() -> None:
    frames = Broadcast(max_pending=100)
    sub = frames.subscribe()
    waiting = asyncio.create_task(frames.subscribe().take())
    frames.publish(_wires(1, 2), final=False)
    frames.close()
    assert [w.id for w in await sub.take()] == [1, 2]
    with pytest.raises(HubStopped):
        await sub.take()
    await wait_until(waiting.done)
    assert [w.id for w in waiting.result()] == [1, 2]


async def test_only_readers_that_joined_before_the_final_frame_end_with_it() -> None:
    frames = Broadcast(max_pending=100)
    before = frames.subscribe()
    frames.publish(_wires(1, 1), final=True)
    after = frames.subscribe()
    assert before.final and before.pending == 1
    assert not after.final and after.pending == 0


class _Connection:
    """What a parked reader's deliveries reach: the chunks written, until it is `full`."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.full = False

    def deliver(self, wires: list[Wire], data: bytes) -> bool:
        assert data == b"".join(w.data for w in wires)
        if self.full:
            return False
        self.chunks.append(data)
        return True


async def test_a_parked_reader_is_handed_each_publish_as_it_is_made() -> None:
    frames = Broadcast(max_pending=100)
    sub, conn = frames.subscribe(), _Connection()
    parked = asyncio.create_task(frames.park(sub, conn.deliver))
    await wait_until(lambda: sub in frames.parked)
    frames.publish(_wires(1, 2), final=False)  # delivered within the call: no task ran
    frames.publish(_wires(3, 1), final=False)
    assert conn.chunks == [b"frame 1frame 2", b"frame 3"]
    assert sub.pending == 0 and not parked.done()  # still parked, nothing left to take
    conn.full = True  # the connection cannot take more now: the reader takes it itself
    frames.publish(_wires(4, 1), final=False)
    await parked
    assert conn.chunks == [b"frame 1frame 2", b"frame 3"] and sub not in frames.parked
    assert [w.id for w in await sub.take()] == [4]


async def test_a_final_frame_or_the_close_wakes_parked_readers_with_nothing_delivered() -> None:
    frames = Broadcast(max_pending=100)
    ending, closing = frames.subscribe(), frames.subscribe()
    conn = _Connection()
    parked = asyncio.create_task(frames.park(ending, conn.deliver))
    await wait_until(lambda: ending in frames.parked)
    frames.publish(_wires(1, 1), final=True)  # the reader ends its stream itself
    await parked
    assert conn.chunks == [] and [w.id for w in await ending.take()] == [1] and ending.final
    assert [w.id for w in await closing.take()] == [1]
    parked = asyncio.create_task(frames.park(closing, conn.deliver))
    await wait_until(lambda: closing in frames.parked)
    frames.close()
    await parked
    with pytest.raises(HubStopped):
        await closing.take()


async def test_a_reader_behind_is_never_handed_frames_past_what_it_has_not_taken() -> None:
    frames = Broadcast(max_pending=100)
    sub, conn = frames.subscribe(), _Connection()
    frames.publish(_wires(1, 1), final=False)  # not taken yet when it parks (a misuse)
    parked = asyncio.create_task(frames.park(sub, conn.deliver))
    await wait_until(lambda: sub in frames.parked)
    frames.publish(_wires(2, 1), final=False)
    await parked  # woken to take both, in order
    assert conn.chunks == [] and [w.id for w in await sub.take()] == [1, 2]


async def test_a_cancelled_parked_reader_is_no_longer_delivered_to() -> None:
    frames = Broadcast(max_pending=100)
    sub, conn = frames.subscribe(), _Connection()
    parked = asyncio.create_task(frames.park(sub, conn.deliver))
    await wait_until(lambda: sub in frames.parked)
    parked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await parked
    frames.publish(_wires(1, 1), final=False)
    assert conn.chunks == [] and not frames.parked
