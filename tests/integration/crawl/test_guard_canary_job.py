"""Jobs through the API, with private networks refused as in production: a scrape of every
disguise of the canary's 127.0.0.1 and a crawl rooted at one fetch nothing, and their results
name the refusal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine.crawl.fetcher import FetchSettings
from engine.worker import Worker
from tests.integration.canary import DISGUISES, Canary, serve_canary
from tests.support import Service, finished


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    async with serve_canary() as c:
        yield c


@contextlib.asynccontextmanager
async def worker_of(service: Service) -> AsyncIterator[None]:
    """A worker built as `jobstream worker` builds one, its fetch policy the service's
    (private networks refused), running until the block ends."""
    allow = service.settings.allow_private_networks
    worker = Worker(
        service.runtime.nc, service.runtime.jobs.service, service.runtime.results,
        FetchSettings(allow_private=allow), concurrency=4,
    )  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.drain()
        await asyncio.wait_for(task, 15)


async def _create(service: Service, kind: str, body: dict[str, Any]) -> str:
    status, job = await service.admin.call("POST", f"/api/job/create/{kind}", json=body)
    assert status == 201, job
    return str(job["id"])


async def _pages(service: Service, job_id: str) -> list[dict[str, Any]]:
    return await service.admin.all_items(f"/api/job/{job_id}/results")


async def test_jobs_through_the_api_fetch_no_disguise(service: Service, canary: Canary) -> None:
    assert service.settings.allow_private_networks is False
    urls = [canary.origin(host) + "/secret" for host in DISGUISES]
    async with worker_of(service):
        batch_id = await _create(service, "scrape", {"urls": urls})
        crawl_id = await _create(service, "crawl", {"url": canary.origin("0x7f.1") + "/"})
        batch = await finished(service.admin, batch_id, timeout=60)
        crawl = await finished(service.admin, crawl_id, timeout=60)

    assert batch["status"] == 3, batch  # failed: every URL failed
    n = len(DISGUISES)
    assert batch["error"].startswith(f"{n} of {n} URLs failed; the first: {urls[0]}"), batch
    pages = await _pages(service, batch_id)
    assert sorted(page["url"] for page in pages) == sorted(urls)
    for page in pages:
        assert not page["ok"] and page["status_code"] in (0, None), page
        assert page["error"] and "public" in page["error"], page

    # Whether a crawl whose root was refused succeeds (its pages say what failed) or fails
    # is the job's rule, not the guard's; either way the refusal is named.
    assert crawl["status"] in (2, 3), crawl
    assert crawl["status"] == 2 or "is not public" in crawl["error"], crawl
    [root] = await _pages(service, crawl_id)
    assert not root["ok"] and "0x7f.1 (127.0.0.1) is not public" in root["error"], root
    assert canary.hits == []
