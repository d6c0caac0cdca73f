"""The recorder against a real JetStream: order, bodies before events, duplicates stored once."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS

from engine.domain.envelope import event_envelope
from engine.domain.events import Codec, LogWritten
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.recorder import MAX_BATCH, Recorder
from engine.jetstream.results import ResultStore, result_key
from engine.jetstream.store import EventStore
from engine.service import new_id
from tests.integration.work.helpers import results_subjects


@pytest.fixture(autouse=True)
async def streams(nc: NATS) -> None:
    """JOBS and RESULTS, as the service makes them."""
    await EventStore(nc, Codec()).ensure()
    await ResultStore(nc.jetstream()).ensure()


def _line(job_id: str, n: int) -> LogWritten:
    return LogWritten(**event_envelope(job_id, "t"), message=str(n))


async def _messages(nc: NATS, job_id: str) -> list[str]:
    history = await EventStore(nc, Codec()).history(job_id)
    return [s.event.message for s in history if isinstance(s.event, LogWritten)]


async def test_events_are_stored_in_order_across_batches_with_their_bodies(nc: NATS) -> None:
    job_id, recorder = new_id(), Recorder(nc, Codec())
    results = ResultStore(nc.jetstream())
    count = 2 * MAX_BATCH + 7
    try:
        for n in range(count):
            body = (result_key(job_id, f"u{n}"), b'{"n": %d}' % n) if n % 3 == 0 else None
            await recorder.add(_line(job_id, n), msg_id=f"{job_id}:{n}", body=body)
        await recorder.flush()
    finally:
        await recorder.close()
    assert await _messages(nc, job_id) == [str(n) for n in range(count)]
    for n in range(0, count, 3):
        assert await results.get(result_key(job_id, f"u{n}")) == {"n": n}


async def test_a_batch_repeating_a_stored_message_id_stores_only_the_new_events(
    nc: NATS,
) -> None:
    """The stream refuses such an atomic batch whole; sent one by one, the repeat is dropped."""
    job_id, recorder = new_id(), Recorder(nc, Codec())
    try:
        for n in (0, 1, 2):
            await recorder.add(_line(job_id, n), msg_id=f"{job_id}:{n}")
        await recorder.flush()
        for n in (3, 1, 4):  # 1 again, under the same message id
            await recorder.add(_line(job_id, n), msg_id=f"{job_id}:{n}")
        await recorder.flush()
    finally:
        await recorder.close()
    assert await _messages(nc, job_id) == ["0", "1", "2", "3", "4"]


async def test_a_stream_that_stores_nothing_makes_add_and_flush_raise(nc: NATS) -> None:
    await results_subjects(nc.jetstream(), ["elsewhere.>"])
    job_id, recorder = new_id(), Recorder(nc, Codec(), timeout=2.0)
    try:
        await recorder.add(_line(job_id, 0), body=(result_key(job_id, "u"), b"{}"))
        with pytest.raises(StoreUnavailable):
            await recorder.flush()
        with pytest.raises(StoreUnavailable):
            await recorder.add(_line(job_id, 1))
    finally:
        await recorder.close()
    assert await _messages(nc, job_id) == []  # no event without its body
