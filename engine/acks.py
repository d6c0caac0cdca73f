"""Settling JetStream messages held under explicit ack: heartbeats while in hand, then one reply."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

import nats.errors
from nats.aio.msg import Msg

log = logging.getLogger(__name__)


async def heartbeat(msg: Msg, every_s: float) -> None:
    """Tell JetStream every `every_s` that `msg` is still in hand, so it is not redelivered.

    Runs until cancelled; a lost heartbeat is not an error (at worst the message comes back).
    """
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()


async def settle(reply: Awaitable[None], who: str) -> None:
    """Send an ack, nak or term, shielded from cancellation; a failure is logged, not raised.

    If it is lost the message comes back: holders must be idempotent. `who` names the
    holder in the log.
    """
    try:
        await asyncio.shield(reply)
    except nats.errors.Error as e:
        log.warning("%s: could not settle a message: %s", who, e)
