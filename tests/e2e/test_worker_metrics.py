"""A standalone `jobstream worker --metrics-port` serves its own metrics: the jobs it ran and
the pages it fetched, which the API node that created the jobs never sees."""

from __future__ import annotations

import contextlib
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.processes import serve_process
from tests.sites.testsite import serve_site
from tests.support import cli_env, finished, free_port, spawn, stopped, wait_until


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_worker_process_serves_the_jobs_and_fetches_it_ran(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    async with serve_site(12, seed=5) as site, serve_process(tmp_path) as served:
        worker = await spawn(
            tmp_path / "worker.log", "worker", "--metrics-port", str(port),
            env=cli_env(NATS_URL=served.nats_url, JOBSTREAM_ALLOW_PRIVATE="1"),
        )  # fmt: skip
        try:
            async with aiohttp.ClientSession() as http:
                texts: list[str] = []

                async def scraped() -> bool:
                    assert worker.returncode is None, (tmp_path / "worker.log").read_text()
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        async with http.get(url) as resp:
                            if resp.status == 200:
                                texts.append(await resp.text())
                                return True
                    return False

                await wait_until(scraped, timeout=30)  # the worker is up and serving
                before = _samples(texts[-1])
                status, job = await served.client.call(
                    "POST", "/api/job/create/crawl", json={"url": site.base_url}
                )
                assert status == 201, job
                job = await finished(served.client, job["id"], timeout=60)
                assert await scraped()
                after = _samples(texts[-1])
        finally:
            await stopped(worker)
    crawl = (("type", "crawl"),)
    assert before[("jobstream_jobs_started_total", crawl)] == 0
    assert after[("jobstream_jobs_started_total", crawl)] == 1
    ended = (("status", "success"), ("type", "crawl"))
    assert after[("jobstream_jobs_finished_total", ended)] == 1, job
    fetched = sum(v for (name, _), v in after.items() if name == "jobstream_pages_fetched_total")
    assert fetched >= job["done"] + job["failed"] > 0, (after, job)
    assert after[("jobstream_fetch_duration_seconds_count", ())] == fetched
