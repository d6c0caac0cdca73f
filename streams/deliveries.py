"""The record of every webhook delivery attempt: the `DELIVERIES` JetStream stream.

Each attempt is one message on `deliveries.<webhook_id>.<message_id>`, so
- a webhook's attempts, in the order they were made, are one filtered read, and
- the newest attempt for one (webhook, event) pair is one direct get by subject: the
  deliverer reads it before sending, so a redelivered event is never sent again once its
  outcome is final.
Retention is bounded by age and by count; a deleted webhook's records are purged with it.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from engine.jetstream.provision import ensure_stream
from engine.jetstream.store import direct_batch, sequence_of
from streams.errors import StreamsError

DELIVERIES_STREAM = "DELIVERIES"
MAX_AGE_S = 7 * 24 * 3600.0
MAX_MSGS = 1_000_000


class DeliveryOutcome(StrEnum):
    """What became of one attempt to deliver an event to a webhook."""

    DELIVERED = "delivered"  # 2xx: final
    RETRYING = "retrying"  # another attempt at `next_attempt_at`
    FAILED = "failed"  # final: a 4xx, a refused address, or attempts used up


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One POST of one event to one webhook (or a refusal to send it)."""

    webhook_id: str
    message_id: str  # the `webhook-id` header: the same for every attempt of the event
    event_type: str
    job_id: str
    event_seq: int
    attempt: int
    at: int  # ms, when the attempt started
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    outcome: DeliveryOutcome
    next_attempt_at: int | None = None  # ms, when RETRYING


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    items: list[Attempt]


class DeliveryLogError(StreamsError):
    """The DELIVERIES stream did not answer or refused a write."""


def deliveries_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=DELIVERIES_STREAM,
        num_replicas=replicas,
        subjects=["deliveries.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=MAX_AGE_S,
        max_msgs=MAX_MSGS,
        allow_direct=True,
        duplicate_window=120.0,
    )


class DeliveryLog:
    """Writes attempts and reads them back."""

    def __init__(self, nc: NATS, *, timeout: float = 5.0) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._timeout = timeout
        self._encode = msgspec.json.Encoder().encode
        self._decode = msgspec.json.Decoder(Attempt).decode

    async def ensure(self, replicas: int = 1) -> None:
        """The DELIVERIES stream, created with `replicas` if missing."""
        await ensure_stream(self._js, deliveries_config(replicas))

    async def record(self, attempt: Attempt) -> None:
        """Store `attempt` durably; a retried write of the same attempt is stored once."""
        subject = _subject(attempt.webhook_id, attempt.message_id)
        msg_id = f"{attempt.message_id}:{attempt.attempt}"
        try:
            await self._js.publish(subject, self._encode(attempt), headers={"Nats-Msg-Id": msg_id})
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise DeliveryLogError(f"cannot record attempt on {subject}: {e}") from e

    async def last(self, webhook_id: str, message_id: str) -> Attempt | None:
        """The newest recorded attempt to deliver `message_id` to the webhook, if any."""
        subject = _subject(webhook_id, message_id)
        try:
            raw = await self._js.get_msg(DELIVERIES_STREAM, subject=subject, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise DeliveryLogError(f"cannot read {subject}: {e}") from e
        return self._decode(raw.data or b"")

    async def page(self, webhook_id: str, offset: int, limit: int) -> Recorded:
        """The webhook's attempts in the order they were made: `limit` after `offset`."""
        items: list[Attempt] = []
        total, seq, seen = 0, 1, 0
        while seen < offset + limit:
            batch, pending, last_seq = await self._batch(f"deliveries.{webhook_id}.>", seq)
            if seen == 0:
                total = len(batch) + pending
            for attempt in batch:
                if offset <= seen < offset + limit:
                    items.append(attempt)
                seen += 1
            if not batch or pending == 0:
                break
            seq = last_seq + 1
        return Recorded(total=total, items=items)

    async def purge(self, webhook_id: str) -> None:
        try:
            await self._js.purge_stream(DELIVERIES_STREAM, subject=f"deliveries.{webhook_id}.>")
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise DeliveryLogError(f"cannot purge deliveries of {webhook_id}: {e}") from e

    async def _batch(self, subject: str, seq: int) -> tuple[list[Attempt], int, int]:
        """One batched direct get: (attempts, how many match after them, last sequence)."""
        try:
            msgs = await direct_batch(self._nc, DELIVERIES_STREAM, subject, seq, self._timeout)
        except nats.errors.Error as e:
            raise DeliveryLogError(f"cannot read {subject}: {e}") from e
        if not msgs:
            return [], 0, 0
        pending = int((msgs[-1].headers or {}).get("Nats-Num-Pending", "0"))
        return [self._decode(m.data) for m in msgs], pending, sequence_of(msgs[-1])


def _subject(webhook_id: str, message_id: str) -> str:
    return f"deliveries.{webhook_id}.{message_id}"
