"""NATS key-value buckets: open one, creating it on first use."""

from __future__ import annotations

from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.provision import create_once, settled_info, wait_for_leader
from engine.jetstream.store import subject_counts

# What `KeyValue.create` raises when the key exists: wrong last sequence, or, on a cluster,
# not found, when nats-py's read-back after that refusal reaches a replica the other writer's
# create has not reached yet. Either way the caller lost the race.
CREATE_REFUSED = (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError)


def is_marker(msg: Msg) -> bool:
    """Whether a message read from a bucket's stream is a delete or purge marker (the key
    has no value), not a value."""
    return (msg.headers or {}).get("KV-Operation") is not None


async def open_bucket(
    js: JetStreamContext, bucket: str, *, replicas: int = 1, **config: Any
) -> KeyValue:
    """The bucket, created with `replicas` and `config` (e.g. `history`, `ttl`) if it does not
    exist yet; an existing bucket is opened as it is (its replicas kept). Safe to run from
    many processes at once; returns once the bucket's stream has a leader, so the first write
    does not meet "no responders" on a cluster still electing one."""
    if await settled_info(js, f"KV_{bucket}") is None:
        await create_once(
            f"bucket {bucket}",
            lambda: js.create_key_value(bucket=bucket, replicas=replicas, **config),
        )
    await wait_for_leader(js, f"KV_{bucket}")  # created here or by another process just now
    return await js.key_value(bucket)


async def direct_if_single(js: JetStreamContext, bucket: str) -> None:
    """Let `bucket` answer direct gets if it lives on one server (made now or before). A
    replicated bucket is left as it is: a direct get there may be answered by a replica
    behind the leader."""
    info = await settled_info(js, f"KV_{bucket}", known=True)
    if info is not None and info.config.num_replicas == 1 and not info.config.allow_direct:
        info.config.allow_direct = True
        await js.update_stream(info.config)


async def key_tokens(js: JetStreamContext, bucket: str, prefix: str) -> list[str]:
    """The `<token>` of every key `<prefix><token>` of `bucket` (a deleted one too, while
    its tombstone is kept), read from the bucket stream's subjects in one request.

    Not `KeyValue.keys()`: nats-py's watch behind it can end before the first key arrives
    (2 of 500 calls found no key on a bucket holding 21). StoreUnavailable when the stream
    does not answer."""
    counts = await subject_counts(js, f"KV_{bucket}", f"$KV.{bucket}.{prefix}", f"{bucket} keys")
    return sorted(counts)


async def bucket_empty(js: JetStreamContext, bucket: str) -> bool:
    """Whether `bucket` holds no message at all (no key, no tombstone)."""
    try:
        info = await js.stream_info(f"KV_{bucket}")
    except (nats.errors.Error, nats.js.errors.Error) as e:
        raise StoreUnavailable(f"cannot read the {bucket} bucket: {e!r}") from e
    return not info.state.messages
