"""Recorders sharing one JetStream context: a job run costs the connection no subscription."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

from engine.domain.envelope import event_envelope
from engine.domain.events import Codec, LogWritten
from engine.jetstream.recorder import Recorder
from engine.jetstream.store import EventStore, wait_for_jetstream
from engine.service import new_id


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await wait_for_jetstream(nats_url)
    await EventStore(client, Codec()).ensure()
    yield client
    await client.close()


async def _record_one(nc: NATS, recorder: Recorder) -> str:
    """Store one event (a batch of one: the one-by-one path); the job id it went to."""
    job_id = new_id()
    event = LogWritten(**event_envelope(job_id, "t"), message="x")
    try:
        await recorder.add(event)
        await recorder.flush()
    finally:
        await recorder.close()
    return job_id


async def test_recorders_sharing_a_jetstream_context_add_no_subscription_each(nc: NATS) -> None:
    js, codec, store = nc.jetstream(), Codec(), EventStore(nc, Codec())
    first = await _record_one(nc, Recorder(nc, codec, js=js))
    subscriptions = len(nc._subs)
    job_ids = [await _record_one(nc, Recorder(nc, codec, js=js)) for _ in range(5)]
    assert len(nc._subs) == subscriptions
    for job_id in [first, *job_ids]:
        assert [type(s.event) for s in await store.history(job_id)] == [LogWritten]
