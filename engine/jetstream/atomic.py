"""JetStream atomic batch publish (ADR-50): several messages stored all together or not at all."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client as NATS

from engine.jetstream.errors import StoreUnavailable

Message = tuple[str, bytes, dict[str, str] | None]  # subject, payload, headers


class BatchRefused(Exception):
    """JetStream refused an atomic batch as a whole; none of it was stored.

    `code` is JetStream's error code (10071: a `Nats-Expected-Last-Subject-Sequence` did not
    hold; 10201: the batch holds a `Nats-Msg-Id` the stream already stored).
    """

    def __init__(self, description: str, code: int) -> None:
        super().__init__(description)
        self.code = code


async def publish_atomic(nc: NATS, messages: Sequence[Message], timeout: float) -> int:
    """Store `messages` as one atomic batch; the stream sequence of the last one.

    Headers of each message go with it (a sequence check on the first message guards the
    whole batch). Raises BatchRefused when the stream refuses the batch, and
    StoreUnavailable when it does not answer within `timeout`.
    """
    batch_id = secrets.token_urlsafe(16)
    try:
        for seq, (subject, data, headers) in enumerate(messages[:-1], start=1):
            await nc.publish(subject, data, headers=_in_batch(headers, batch_id, seq))
        subject, data, headers = messages[-1]
        commit = {**_in_batch(headers, batch_id, len(messages)), "Nats-Batch-Commit": "1"}
        reply = await nc.request(subject, data, timeout=timeout, headers=commit)
    except TimeoutError as e:
        raise StoreUnavailable(f"no ack from JetStream within {timeout}s") from e
    except nats.errors.Error as e:
        raise StoreUnavailable(f"cannot publish to JetStream: {e!r}") from e
    answer: dict[str, Any] = msgspec.json.decode(reply.data)
    error = answer.get("error")
    if error is not None:
        raise BatchRefused(str(error.get("description", error)), int(error.get("err_code", 0)))
    return int(answer["seq"])


def _in_batch(headers: dict[str, str] | None, batch_id: str, seq: int) -> dict[str, str]:
    return {**(headers or {}), "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(seq)}
