"""fetch_ready hands over a lone message at once, and a backlog in one go."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from engine.jetstream.acks import fetch_ready
from tests.support import wait_until


async def _pull(nc: NATS) -> Any:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="PULLED", subjects=["pulled.>"]))
    await js.add_consumer("PULLED", ConsumerConfig(durable_name="c", ack_policy=AckPolicy.EXPLICIT))
    return await js.pull_subscribe_bind("c", "PULLED")


async def test_a_lone_message_is_not_held_for_a_fuller_batch(nc: NATS) -> None:
    sub = await _pull(nc)
    taking = asyncio.create_task(fetch_ready(sub, 50, 60.0))
    await wait_until(lambda: _waiting(nc))  # the pull is waiting before the message comes
    await nc.jetstream().publish("pulled.one", b"1")
    msgs = await asyncio.wait_for(taking, 20)
    assert [m.data for m in msgs] == [b"1"]


async def _waiting(nc: NATS) -> bool:
    return bool((await nc.jetstream().consumer_info("PULLED", "c")).num_waiting)


async def test_a_backlog_comes_in_one_batch_and_nothing_means_empty(nc: NATS) -> None:
    sub = await _pull(nc)
    for i in range(40):
        await nc.jetstream().publish("pulled.many", str(i).encode())
    first = await fetch_ready(sub, 32, 60.0)
    rest = await fetch_ready(sub, 32, 60.0)
    assert [m.data for m in first + rest] == [str(i).encode() for i in range(40)]
    assert (len(first), len(rest)) == (32, 8)
    assert await fetch_ready(sub, 32, 0.2) == []
