"""GET /metrics over HTTP, read back with prometheus_client's own text parser: the counters
move as a crawl of a local site runs (compared with what the site itself served and what the
API says of the job), the gauges follow the queue, the read model and the open streams, and
only admins read them unless the node makes them public."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from api.settings import Settings
from cli.sse_client import sse_events
from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope, new_id
from engine.domain.model import JobType, Priority
from engine.service import JobService
from tests.support import Client, Service, finished, run_service, serve_app, wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
PAGES = {
    "/": '<a href="/a">a</a> <a href="/b">b</a> <a href="/gone">gone</a>',
    "/a": "<h1>A</h1>",
    "/b": "<h1>B</h1>" + "x" * 5000,
}


class Site:
    """Three pages and a broken link; every answer (status, body bytes) is noted."""

    def __init__(self) -> None:
        self.served: list[tuple[int, int]] = []
        self.hooks = 0

    async def page(self, request: web.Request) -> web.Response:
        body = PAGES.get(request.path)
        status = 200 if body is not None else 404
        data = (f"<html><body>{body}</body></html>" if body else "not here").encode()
        self.served.append((status, len(data)))
        kind = "text/html" if body else "text/plain"
        return web.Response(status=status, body=data, content_type=kind)

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        self.hooks += 1
        return web.Response(status=204)


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    s = Site()
    app = web.Application()
    app.router.add_post("/hook", s.hook)
    app.router.add_get("/{tail:.*}", s.page)
    async with serve_app(app) as origin:
        yield s, origin


@pytest.fixture
async def working(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, workers=1, allow_private_networks=True
    )
    async with run_service(settings) as svc:
        yield svc


async def scrape(client: Client) -> Samples:
    """Every sample of /metrics, parsed by prometheus_client, by (name, sorted labels)."""
    async with client.session.get(client.base + "/metrics", headers=client._headers(None)) as r:
        assert r.status == 200, await r.text()
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def test_counters_move_as_a_crawl_runs(working: Service, site: tuple[Site, str]) -> None:
    served, origin = site
    admin = working.admin
    before = await scrape(admin)
    assert total(before, "jobstream_jobs_created_total") == 0
    assert value(before, "jobstream_pages_fetched_total", result="2xx") == 0
    assert value(before, "jobstream_nats_reconnects_total") == 0
    status, hook = await admin.call(
        "POST", "/api/webhooks", json={"url": origin + "/hook", "events": ["job.page"]}
    )
    assert status == 201, hook
    status, job = await admin.call("POST", "/api/job/create/crawl", json={"url": origin + "/"})
    assert status == 201, job
    job = await finished(admin, job["id"])
    assert job["status"] == 2, job

    after = await scrape(admin)
    assert value(after, "jobstream_jobs_created_total", type="crawl") == 1
    assert total(after, "jobstream_jobs_created_total") == 1
    assert value(after, "jobstream_jobs_started_total", type="crawl") == 1
    assert value(after, "jobstream_jobs_finished_total", type="crawl", status="success") == 1
    assert total(after, "jobstream_jobs_finished_total") == 1
    # every fetch is one request the site answered (no redirects, no retries here)
    oks = sum(1 for s, _ in served.served if s == 200)
    assert oks >= len(PAGES)
    assert value(after, "jobstream_pages_fetched_total", result="2xx") == oks
    assert value(after, "jobstream_pages_fetched_total", result="4xx") == len(served.served) - oks
    assert value(after, "jobstream_fetched_bytes_total") == sum(n for _, n in served.served)
    assert value(after, "jobstream_fetch_duration_seconds_count") == len(served.served)
    assert value(after, "jobstream_fetch_duration_seconds_bucket", le="+Inf") == len(served.served)
    for lane in ("high", "normal", "low"):
        assert value(after, "jobstream_queue_depth", lane=lane) == 0

    # one delivery per page event, each answered 204 by the receiver
    pages = job["done"] + job["failed"]

    async def delivered() -> bool:
        now = await scrape(admin)
        return value(now, "jobstream_webhook_deliveries_total", outcome="delivered") >= pages

    await wait_until(delivered, timeout=15)
    status, attempts = await admin.call("GET", f"/api/webhooks/{hook['id']}/deliveries")
    assert status == 200, attempts
    now = await scrape(admin)
    assert value(now, "jobstream_webhook_deliveries_total", outcome="delivered") == served.hooks
    assert total(now, "jobstream_webhook_deliveries_total") == len(attempts["items"])


async def test_projector_lag_and_sse_clients(working: Service) -> None:
    admin, runtime = working.admin, working.runtime
    js = runtime.nc.jetstream()
    await runtime.projector.wait_for(int((await js.stream_info("JOBS")).state.last_seq))
    samples = await scrape(admin)
    assert value(samples, "jobstream_projector_lag_events") == 0
    assert value(samples, "jobstream_projector_lag_seconds") == 0
    assert value(samples, "jobstream_sse_clients") == 0

    url = admin.base + "/api/jobs/stream"
    async with admin.session.get(url, headers=admin._headers(None)) as resp:
        async for _ in sse_events(resp):  # the snapshot: the stream is open
            break
        assert value(await scrape(admin), "jobstream_sse_clients") == 1

    async def closed() -> bool:
        return value(await scrape(admin), "jobstream_sse_clients") == 0

    await wait_until(closed, timeout=10)

    # the read model stops: the create appended now is the first event it lacks (the worker
    # may append more for that job), and its age is the lag
    await runtime.projector.stop()
    since = time.time()
    env = command_envelope(new_id(), "test")
    create = CreateJob(**env, user_id="u1", type=JobType.CRAWL, priority=Priority.NORMAL)
    await JobService(runtime.store).execute(create)
    samples = await scrape(admin)
    assert value(samples, "jobstream_projector_lag_events") >= 1
    lag = value(samples, "jobstream_projector_lag_seconds")
    assert 0 <= lag <= time.time() - since + 0.01


async def test_only_admins_read_metrics(tmp_path: Path, nats_url: str) -> None:
    async with run_service(Settings(data_dir=tmp_path / "data", nats_url=nats_url)) as svc:
        user = await svc.add_user("someone")
        for client, want in ((svc.admin.as_user(None), 401), (user, 403)):
            status, body = await client.call("GET", "/metrics")
            assert status == want and body["status_code"] == want, body
        assert total(await scrape(svc.admin), "jobstream_jobs_created_total") == 0


async def test_public_metrics_need_no_token(tmp_path: Path, nats_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_url, metrics_public=True)
    async with run_service(settings) as svc:
        samples = await scrape(svc.admin.as_user(None))
        assert not math.isnan(value(samples, "jobstream_queue_depth", lane="normal"))
