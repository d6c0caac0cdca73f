"""Pull consumers' messages: taken as soon as one is there, heartbeats while in hand, then
one reply that settles each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

import nats.errors
from nats.aio.msg import Msg

log = logging.getLogger(__name__)


async def heartbeat(msg: Msg | Sequence[Msg], every_s: float) -> None:
    """Tell JetStream every `every_s` that `msg` (or each of several) is still in hand, so
    it is not redelivered; one already settled is ignored by the server.

    Runs until cancelled; a lost heartbeat is not an error (at worst the message comes back).
    """
    msgs = [msg] if isinstance(msg, Msg) else msg
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            for one in msgs:  # no await suspends between them: sent in one write
                await one.in_progress()


async def settle(reply: Awaitable[None], who: str) -> None:
    """Send an ack, nak or term, shielded from cancellation; a failure is logged, not raised.

    If it is lost the message comes back: holders must be idempotent. `who` names the
    holder in the log.
    """
    try:
        await asyncio.shield(reply)
    except nats.errors.Error as e:
        log.warning("%s: could not settle a message: %s", who, e)


# After the first message, how long a pull waits for others already on their way.
READY_S = 0.01


async def fetch_ready(sub: Any, most: int, wait_s: float) -> list[Msg]:
    """Up to `most` messages of the pull subscription `sub`, returned as soon as there is one
    (an empty list after `wait_s` without any).

    What is already there is taken with one short pull; when nothing is, one message is
    awaited alone. A long pull for a whole batch (`fetch(most, wait_s)`) is not used: with
    it, bench/crawl.py saw the dispatcher hold about half of the created events for most of
    its 1 s timeout (a pull for a batch outlives a fetch that returned early, takes the next
    message, and leaves the next fetch waiting for its own pull to expire). NATS errors
    propagate.
    """
    ready = await _ready(sub, most)
    if ready or most < 1:
        return ready
    try:
        first: list[Msg] = await sub.fetch(1, timeout=wait_s)
    except TimeoutError:  # nats-py raises its own subclass, or a plain one near expiry
        return []
    return first


async def _ready(sub: Any, most: int) -> list[Msg]:
    """Up to `most` messages already there (or arriving within READY_S)."""
    if most < 1:
        return []
    try:
        msgs: list[Msg] = await sub.fetch(most, timeout=READY_S)
    except TimeoutError:
        return []
    return msgs
