"""`jobstream serve --workers 0` and a separate `jobstream worker`, both real processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from tests.e2e.processes import serve_process
from tests.sites.testsite import SiteHandle, serve_site
from tests.support import Client, cli_env, finished, get_job, spawn, stopped, wait_until


async def test_a_separate_worker_process_crawls_and_drains_on_sigterm(tmp_path: Path) -> None:
    async with serve_site(60, seed=3) as site, serve_process(tmp_path) as served:
        worker = await spawn(
            tmp_path / "worker.log", "worker", "--concurrency", "2",
            env=cli_env(NATS_URL=served.nats_url, JOBSTREAM_ALLOW_PRIVATE="1"),
        )  # fmt: skip
        try:
            await _crawl_and_drain(served.client, site, worker)
        finally:
            with contextlib.suppress(TimeoutError):
                await stopped(worker)
        await stopped(served.proc)  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()


async def _crawl_and_drain(
    client: Client, site: SiteHandle, worker: asyncio.subprocess.Process
) -> None:
    body = {"url": site.base_url, "concurrency": 4, "delay_ms": 20}
    status, job = await client.call("POST", "/api/job/create/crawl", json=body)
    assert status == 201, job

    async def under_way() -> bool:
        return (await get_job(client, job["id"]))["done"] >= 10

    await wait_until(under_way, timeout=30)
    worker.send_signal(signal.SIGTERM)  # drain: the job in hand is finished, then exit 0
    assert not (await get_job(client, job["id"]))["is_done"]
    assert await asyncio.wait_for(worker.wait(), 30) == 0
    # the terminal event was stored before the exit
    final = await finished(client, job["id"], timeout=5)
    assert final["status"] == 2, final
    got = await client.all_items(f"/api/job/{job['id']}/results")
    assert len(got) == len({r["url"] for r in got})
    assert {r["url"] for r in got if r["ok"]} == set(site.expected.ok)
    assert {r["url"] for r in got if not r["ok"]} == set(site.expected.failed)
