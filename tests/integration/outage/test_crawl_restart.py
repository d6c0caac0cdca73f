"""A crawl whose NATS server is killed (SIGKILL) mid-crawl and started again: the worker
keeps its work item, resumes the same attempt once the store answers, and the job ends with
every page recorded once."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.settings import Settings
from engine.domain.events import JobFailed, JobStarted, PageRecorded
from tests.integration.api.helpers import engine
from tests.integration.outage.server import Server
from tests.integration.work.helpers import HoldSite, results, serve_hold_site
from tests.support import finished, run_service, wait_until


@pytest.fixture
async def hold_site() -> AsyncIterator[HoldSite]:
    async with serve_hold_site() as site:
        yield site


async def test_a_crawl_resumes_after_its_server_restarts(
    tmp_path: Path, hold_site: HoldSite
) -> None:
    async with Server(tmp_path / "nats").running() as server:
        settings = Settings(
            data_dir=tmp_path / "data", nats_url=server.url, workers=1,
            allow_private_networks=True,
        )  # fmt: skip
        async with run_service(settings) as svc:
            store = engine(svc).store
            body = {"url": hold_site.url("/"), "use_sitemap": False, "concurrency": 1}
            status, job = await svc.admin.call("POST", "/api/job/create/crawl", json=body)
            assert status == 201, job

            async def three_recorded() -> bool:
                state = await store.load(job["id"])
                return state is not None and state.done == 3  # "/", "/a" and "/b"

            await wait_until(three_recorded)
            await wait_until(lambda: hold_site.hits["/hold/1"] == 1)
            await server.kill()
            hold_site.release("/hold/1")  # fetched while the store is away
            await server.start()
            job = await finished(svc.admin, job["id"])
            assert job["status"] == 2 and job["error"] is None, job
            pages = await results(svc.admin, job["id"])
            history = [s.event for s in await store.history(job["id"])]

    want = {hold_site.url(p) for p in ("/", "/a", "/b", "/hold/1")}
    assert sorted(r["url"] for r in pages) == sorted(want)
    recorded = Counter(e.url for e in history if isinstance(e, PageRecorded))
    assert recorded == dict.fromkeys(want, 1)
    assert [e.attempt for e in history if isinstance(e, JobStarted)] == [1]  # kept, resumed
    assert not [e for e in history if isinstance(e, JobFailed)]
    assert [hold_site.hits[p] for p in ("/", "/a", "/b")] == [1, 1, 1]
