"""A read that fails while the dispatcher handles a job's end (the dependents bucket electing
a leader) leaves it dispatching: the end is handled once the read answers, and the jobs
created after it get their work items."""

from __future__ import annotations

import logging
from collections.abc import Callable

import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from engine.dispatcher import DISPATCHER, Dispatcher
from engine.domain.commands import CreateJob, FinishJob, StartJob
from engine.domain.envelope import command_envelope
from engine.domain.events import Codec
from engine.domain.model import JobType
from engine.jetstream.kv import open_bucket
from engine.jetstream.store import JOBS_STREAM, EventStore
from engine.jetstream.work import WORK_STREAM, ensure_work
from engine.service import JobService, new_id
from tests.support import wait_until


def _scrape() -> CreateJob:
    return CreateJob(
        **command_envelope(new_id(), "u"), user_id="u", type=int(JobType.SCRAPE), priority=1,
        params={"urls": ["http://127.0.0.1:9/"]}, title="t",
    )  # fmt: skip


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


async def _end_then_create(nc: NATS, deps: KeyValue) -> Dispatcher:
    """A running dispatcher (returned) takes a job's creation, then its end, then another
    creation; returns once WORK holds both jobs' items and every event is settled."""
    store = EventStore(nc, Codec())
    await store.ensure()
    await ensure_work(nc.jetstream())
    service = JobService(store)
    dispatcher = Dispatcher(nc, service, deps)
    await dispatcher.start()
    js = nc.jetstream()

    async def items(n: int) -> bool:
        return (await js.stream_info(WORK_STREAM)).state.messages == n

    async def settled() -> bool:
        info = await js.consumer_info(JOBS_STREAM, DISPATCHER)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    try:
        first = await service.execute(_scrape())
        assert first.state is not None
        await wait_until(lambda: items(1))  # the dispatcher has taken the creation
        job_id = first.state.id
        await service.execute(StartJob(**command_envelope(job_id, "w"), worker_id="w"))
        await service.execute(FinishJob(**command_envelope(job_id, "w"), ok=True))
        await service.execute(_scrape())
        await wait_until(lambda: items(2), timeout=20)
        await wait_until(settled, timeout=20)
    except BaseException:
        await dispatcher.stop()
        raise
    return dispatcher


async def test_an_ends_dependents_not_read_in_an_election_leave_it_dispatching(
    nc: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    """The end's dependents cannot be read at first (by the check whether the end changes
    another job, then by its reaction): an outage, the end retried until a read answers.
    Before, that error ended the dispatcher's loop."""
    caplog.set_level(logging.ERROR, logger="engine.dispatcher")
    deps = await _failing_first(nc, lambda: nats.errors.TimeoutError(), times=2)
    dispatcher = await _end_then_create(nc, deps)
    try:
        assert dispatcher._task is not None and not dispatcher._task.done()
    finally:
        await dispatcher.stop()
    assert not caplog.records  # an outage, not a failed batch


async def test_an_unexpected_error_in_a_batch_is_logged_and_the_loop_goes_on(
    nc: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug while handling a batch: logged, the batch's events come back after the ack
    wait and are handled then, and the loop keeps taking events."""
    caplog.set_level(logging.ERROR, logger="engine.dispatcher")
    deps = await _failing_first(nc, lambda: RuntimeError("a bug"), times=1)
    dispatcher = await _end_then_create(nc, deps)
    try:
        assert dispatcher._task is not None and not dispatcher._task.done()
    finally:
        await dispatcher.stop()
    assert any("a batch of" in r.getMessage() for r in caplog.records), caplog.records
