"""Resume with `Last-Event-ID` across a restart of the API process, while a worker keeps going."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from api.settings import Settings
from engine.crawl.fetcher import FetchSettings
from engine.domain.events import Codec
from engine.jetstream.results import ResultStore
from engine.jetstream.store import EventStore, wait_for_jetstream
from engine.jetstream.work import ensure_work
from engine.service import JobService
from engine.worker import Worker
from tests.integration.streams.helpers import crawl, expected_frames, log_of, one_for_one, stream
from tests.sites.testsite import SiteHandle
from tests.support import run_service


@contextlib.asynccontextmanager
async def outside_worker(nats_url: str) -> AsyncIterator[None]:
    """A worker with its own NATS connection, so it outlives the API process under test."""
    nc = await wait_for_jetstream(nats_url)
    await ensure_work(nc.jetstream())
    results = ResultStore(nc.jetstream(), nc.max_payload)
    worker = Worker(
        nc, JobService(EventStore(nc, Codec())), results, FetchSettings(allow_private=True),
        concurrency=1,
    )  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.drain()
        await task
        await nc.close()


async def test_resume_after_an_api_restart_gets_exactly_the_missed_events(
    tmp_path: Path, nats_url: str, site: SiteHandle
) -> None:
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_url, workers=0)
    async with outside_worker(nats_url):
        async with run_service(settings) as first_api:
            job_id = await crawl(first_api.admin, site.base_url, delay_ms=15)
            path = f"/api/job/{job_id}/stream"
            before = await stream(first_api.admin, path, stop_after=10)
        # The API process is gone; the worker goes on appending events meanwhile.
        async with run_service(settings) as second_api:
            after = await stream(second_api.admin, path, last_id=before[-1].seq)
            log = await log_of(second_api.admin, job_id, after[-1].seq)
    assert after[-1].event == "done"
    assert before[-1].seq < after[0].seq
    assert one_for_one(before[1:] + after) == expected_frames(log, before[0].seq)
