"""Page bodies live in the RESULTS stream, one subject per (job, URL), not in the JOBS log."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from engine.domain.ids import job_token
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.provision import ensure_stream

RESULTS_STREAM = "RESULTS"


def result_key(job_id: str, url: str) -> str:
    """The subject holding the latest body of `url` in job `job_id`."""
    return f"results.{job_token(job_id)}.{hashlib.sha256(url.encode()).hexdigest()[:24]}"


async def open_results(js: JetStreamContext, max_payload: int, replicas: int = 1) -> ResultStore:
    """A store for a connection whose messages hold `max_payload` bytes, RESULTS ensured
    (created with `replicas` if missing)."""
    results = ResultStore(js, max_payload)
    await results.ensure(replicas)
    return results


class ResultStore:
    """Keeps the newest body per (job, URL); a retried URL replaces its failed attempt."""

    def __init__(self, js: JetStreamContext, max_bytes: int = 1024 * 1024) -> None:
        self._js = js
        self._max = max_bytes - 4096  # room for headers and the envelope
        self._encode = msgspec.json.Encoder().encode

    async def ensure(self, replicas: int = 1) -> None:
        await ensure_stream(
            self._js,
            StreamConfig(
                name=RESULTS_STREAM,
                num_replicas=replicas,
                subjects=["results.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_msgs_per_subject=1,
                discard=DiscardPolicy.OLD,
                allow_direct=True,
                allow_atomic=True,  # the worker's recorder stores bodies in atomic batches
                max_msg_size=16 * 1024 * 1024,
            ),
        )

    def encode(self, body: dict[str, Any]) -> bytes:
        """The body as stored, its text fields cut so it fits one message (marked truncated).

        The worker's recorder publishes it to `result_key(job, url)`.
        """
        data = self._encode(body)
        if len(data) <= self._max:
            return data
        body = {**body, "truncated": True}
        for field in ("html", "text", "markdown", "links"):
            if body.get(field):
                body[field] = [] if field == "links" else body[field][: self._max // 4]
            data = self._encode(body)
            if len(data) <= self._max:
                return data
        return self._encode({k: v for k, v in body.items() if not isinstance(v, str | list)})

    async def put(self, key: str, data: bytes) -> int:
        """Store an encoded body under `key` (it replaces the key's earlier one); its stream
        sequence once JetStream acknowledges it, StoreUnavailable when it does not."""
        try:
            ack = await self._js.publish(key, data)
        except nats.errors.Error as e:
            raise StoreUnavailable(f"cannot store result {key}: {e!r}") from e
        return int(ack.seq)

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            msg = await self._js.get_last_msg(RESULTS_STREAM, key, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        except nats.errors.Error as e:
            raise StoreUnavailable(f"cannot read result {key}: {e!r}") from e
        data: dict[str, Any] = msgspec.json.decode(msg.data or b"{}")
        return data
