"""A job run on the dependencies it is given (RunDeps), with no Worker around it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial

import aiohttp
import pytest
from nats.aio.client import Client as NATS

from engine.crawl.fetcher import FetchSettings
from engine.crawl.models import PageOutcome
from engine.domain.commands import CancelJob, CreateJob, StartJob
from engine.domain.envelope import command_envelope
from engine.domain.events import (
    CancelRequested,
    Codec,
    LogWritten,
    PageRecorded,
    ProgressReported,
)
from engine.domain.model import JobType
from engine.domain.state import JobState
from engine.jetstream.recorder import Recorder
from engine.jetstream.results import ResultStore, result_key
from engine.jetstream.store import EventStore
from engine.run import RunContext, RunDeps
from engine.service import JobService, new_id
from tests.support import wait_until

WORKER = "w-run-context"
URL = "http://127.0.0.1:9/page"


@pytest.fixture
async def deps(nc: NATS) -> RunDeps:
    store = EventStore(nc, Codec())
    await store.ensure()
    results = ResultStore(nc.jetstream())
    await results.ensure()
    return RunDeps(
        nc=nc, service=JobService(store), results=results, fetch_settings=FetchSettings(),
        worker_id=WORKER, recorder=partial(Recorder, nc, store.codec),
        artifact_builds=asyncio.Semaphore(1),
    )  # fmt: skip


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:  # handed over, never used by these runs
        yield client


async def _started(deps: RunDeps) -> JobState:
    job_id = new_id()
    create = CreateJob(
        **command_envelope(job_id, "u1"), user_id="u1", type=int(JobType.SCRAPE), priority=1
    )
    await deps.service.execute(create)
    started = await deps.service.execute(StartJob(**command_envelope(job_id, "w"), worker_id="w"))
    assert started.state is not None
    return started.state


@contextlib.asynccontextmanager
async def run_of(
    deps: RunDeps, job: JobState, session: aiohttp.ClientSession, *, listening: bool = True
) -> AsyncIterator[RunContext]:
    """A run of `job`, closed afterwards; `listening`: its cancel subscription opened first."""
    ctx = RunContext(deps, job, session)
    try:
        if listening:
            await ctx.open()
        yield ctx
    finally:
        await ctx.close()


async def _cancel(deps: RunDeps, job_id: str) -> None:
    await deps.service.execute(CancelJob(**command_envelope(job_id, "u1")))


async def test_a_run_records_through_its_deps_and_hears_a_cancel(
    deps: RunDeps, session: aiohttp.ClientSession
) -> None:
    job = await _started(deps)
    async with run_of(deps, job, session) as ctx:
        assert not ctx.should_stop()
        assert ctx.fetch_settings is deps.fetch_settings
        page = PageOutcome(url=URL, final_url=URL, depth=0, status=200, ok=True, links=["x"])
        await ctx.page(page)
        await ctx.log("info", "hello")
        await _cancel(deps, job.id)
        await wait_until(ctx.should_stop)
        await ctx.flush()
    later = [s.event for s in await deps.service.store.history(job.id, job.version + 1)]
    kinds = {type(e) for e in later}
    assert {PageRecorded, LogWritten, ProgressReported, CancelRequested} <= kinds
    assert {e.actor for e in later if not isinstance(e, CancelRequested)} == {WORKER}
    body = await deps.results.get(result_key(job.id, URL))
    assert body is not None and body["links"] == ["x"]


async def test_a_cancel_before_the_run_listens_is_found_in_the_log(
    deps: RunDeps, session: aiohttp.ClientSession
) -> None:
    job = await _started(deps)
    await _cancel(deps, job.id)  # after the start the run was given, before its subscription
    async with run_of(deps, job, session) as ctx:
        assert ctx.should_stop()


def _page(n: int) -> PageOutcome:
    url = f"{URL}/{n}"
    return PageOutcome(url=url, final_url=url, depth=0, status=200, ok=True)


async def test_as_recorded_is_the_job_at_the_runs_last_event_when_nobody_else_wrote(
    deps: RunDeps, session: aiohttp.ClientSession
) -> None:
    job = await _started(deps)
    async with run_of(deps, job, session) as ctx:
        for n in range(30):
            await ctx.page(_page(n))
        await ctx.flush()
        recorded = await ctx.as_recorded()
    history = await deps.service.store.history(job.id)
    assert recorded is not None
    assert recorded.version == history[-1].seq  # the append's sequence check will hold
    assert (recorded.status, recorded.cancel_requested) == (job.status, False)


async def test_as_recorded_is_none_after_another_writers_cancel_even_before_later_pages(
    deps: RunDeps, session: aiohttp.ClientSession
) -> None:
    """A cancel appended mid-run, followed by more of the run's own pages: the run's last
    event is the job's last, so only the count of kinds shows the cancel (the run here has
    not heard it: its subscription is not open)."""
    job = await _started(deps)
    async with run_of(deps, job, session, listening=False) as ctx:
        await ctx.page(_page(0))
        await ctx.flush()
        await _cancel(deps, job.id)
        await ctx.page(_page(1))
        await ctx.flush()
        assert not ctx.should_stop()
        assert await ctx.as_recorded() is None


async def test_kind_counts_count_the_jobs_events_by_kind(
    deps: RunDeps, session: aiohttp.ClientSession
) -> None:
    job = await _started(deps)
    async with run_of(deps, job, session, listening=False) as ctx:
        for n in range(7):
            await ctx.page(_page(n))
        await ctx.log("info", "hello")
        await ctx.flush()
    counts = await deps.service.store.kind_counts(job.id)
    assert {k: counts[k] for k in ("created", "started", "page", "log")} == {
        "created": 1, "started": 1, "page": 7, "log": 1,
    }  # fmt: skip
