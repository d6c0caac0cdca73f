"""NATS key-value buckets: open one, creating it on first use."""

from __future__ import annotations

from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue


async def open_bucket(js: JetStreamContext, bucket: str, **config: Any) -> KeyValue:
    """The bucket, created with `config` (e.g. `history`, `ttl`) if it does not exist yet."""
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(bucket=bucket, **config)
