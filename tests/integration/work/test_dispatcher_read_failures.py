"""A read that fails while the dispatcher handles a job's end (the dependents bucket electing
a leader) leaves it dispatching: the end is handled once the read answers, and the jobs
created after it get their work items."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from engine.dispatcher import DISPATCHER, Dispatcher
from engine.domain.commands import FinishJob, StartJob
from engine.domain.envelope import command_envelope
from engine.domain.events import Codec
from engine.jetstream.kv import open_bucket
from engine.jetstream.store import EventStore
from engine.jetstream.work import WORK_STREAM, ensure_work
from engine.service import JobService
from tests.integration.work.helpers import scrape
from tests.support import consumer_idle, wait_until


async def _failing_first(nc: NATS, error: Callable[[], Exception], times: int) -> KeyValue:
    """The dependents bucket without direct gets (read key by key, as a replicated one is),
    whose first `times` reads raise `error()`; the rest are real."""
    deps = await open_bucket(nc.jetstream(), "dependents", history=1)
    get = deps.get
    left = times

    async def flaky(key: str, revision: int | None = None) -> KeyValue.Entry:
        nonlocal left
        if left:
            left -= 1
            raise error()
        return await get(key, revision)

    deps.get = flaky  # type: ignore[method-assign]
    return deps


@contextlib.asynccontextmanager
async def _end_then_create(nc: NATS, deps: KeyValue) -> AsyncIterator[Dispatcher]:
    """A running dispatcher (yielded, stopped after) takes a job's creation, then its end,
    then another creation; yielded once WORK holds both jobs' items and every event is
    settled."""
    store = EventStore(nc, Codec())
    await store.ensure()
    await ensure_work(nc.jetstream())
    service = JobService(store)
    dispatcher = Dispatcher(nc, service, deps)
    await dispatcher.start()
    js = nc.jetstream()

    async def items(n: int) -> bool:
        return (await js.stream_info(WORK_STREAM)).state.messages == n

    try:
        first = await service.execute(scrape())
        assert first.state is not None
        await wait_until(lambda: items(1))  # the dispatcher has taken the creation
        job_id = first.state.id
        await service.execute(StartJob(**command_envelope(job_id, "w"), worker_id="w"))
        await service.execute(FinishJob(**command_envelope(job_id, "w"), ok=True))
        await service.execute(scrape())
        await wait_until(lambda: items(2), timeout=20)
        await wait_until(lambda: consumer_idle(js, DISPATCHER), timeout=20)
        yield dispatcher
    finally:
        await dispatcher.stop()


async def test_an_ends_dependents_not_read_in_an_election_leave_it_dispatching(
    nc: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    """The end's dependents cannot be read at first (by the check whether the end changes
    another job, then by its reaction): an outage, the end retried until a read answers.
    Before, that error ended the dispatcher's loop."""
    caplog.set_level(logging.ERROR, logger="engine.dispatcher")
    deps = await _failing_first(nc, lambda: nats.errors.TimeoutError(), times=2)
    async with _end_then_create(nc, deps) as dispatcher:
        assert dispatcher._task is not None and not dispatcher._task.done()
    assert not caplog.records  # an outage, not a failed batch


async def test_an_unexpected_error_in_a_batch_is_logged_and_the_loop_goes_on(
    nc: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug while handling a batch: logged, the batch's events come back after the ack
    wait and are handled then, and the loop keeps taking events."""
    caplog.set_level(logging.ERROR, logger="engine.dispatcher")
    deps = await _failing_first(nc, lambda: RuntimeError("a bug"), times=1)
    async with _end_then_create(nc, deps) as dispatcher:
        assert dispatcher._task is not None and not dispatcher._task.done()
    assert any("a batch of" in r.getMessage() for r in caplog.records), caplog.records
