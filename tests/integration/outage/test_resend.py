"""What the append's resend (after a publish whose outcome is unknown) relies on: an event
sent again is stored once, whether its append is conditional or not."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS

from engine.domain.commands import CreateJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, new_id
from engine.domain.events import Codec
from engine.jetstream.errors import ConcurrencyConflict
from engine.jetstream.store import EventStore


def _created(job_id: str) -> CreateJob:
    return CreateJob(
        **command_envelope(job_id, "u1"), user_id="u1", type=0, priority=1, params={},
        title="t", parent_job_id=None, depends_on=None, extra={}, total=1,
    )  # fmt: skip


async def test_an_event_sent_again_is_stored_once(nc: NATS) -> None:
    store = EventStore(nc, Codec())
    await store.ensure()
    job_id = new_id()
    (event,) = decide(None, _created(job_id))
    seq = await store.append([event], expected=0)
    with pytest.raises(ConcurrencyConflict):  # checked: the sequence check refuses it
        await store.append([event], expected=0)
    assert await store.append_unchecked(event) == seq  # unchecked: a duplicate, same sequence
    assert [s.seq for s in await store.history(job_id)] == [seq]
