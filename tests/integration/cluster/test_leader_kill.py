"""The JOBS stream's leader killed (SIGKILL) mid-crawl and mid-batch on a three-node cluster
with two API nodes (each with a worker): every job ends, no page is lost or recorded twice,
both nodes' read models converge, creates during the election are answered 201 or 503 (never
500, never an error for a job that exists), and the pause is measured."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from api.settings import Settings
from engine.domain.eventlog import EventLog
from engine.domain.events import PageRecorded
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.store import JOBS_STREAM
from engine.jetstream.work import WORK_STREAM
from tests.cluster import Cluster
from tests.integration.api.helpers import engine
from tests.integration.outage.load import HealthWatch, Load
from tests.integration.work.helpers import results
from tests.support import Service, finished, run_service, serve_app, wait_until

PAGES, OPEN_PAGES = 30, 10  # the crawl's pages under /p/, and how many answer before the kill
URLS, OPEN_URLS = 20, 5  # the batch's URLs under /b/, likewise


class GatedSite:
    """`/` links to /p/0 .. /p/<PAGES-1>; /b/<n> are the batch's pages. Pages past the first
    OPEN_PAGES (OPEN_URLS) answer once `gate` is set; /load/<n> answers at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.held: Counter[str] = Counter()
        self.origin = ""

    def url(self, path: str) -> str:
        return self.origin + path

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/", self._index), web.get("/{kind:[pbl]\\w*}/{n}", self._page)])
        return app

    async def _index(self, _: web.Request) -> web.Response:
        links = "".join(f'<a href="/p/{i}">{i}</a>' for i in range(PAGES))
        return _html("Home", links)

    async def _page(self, request: web.Request) -> web.Response:
        kind, n = request.match_info["kind"], int(request.match_info["n"])
        if (kind == "p" and n >= OPEN_PAGES) or (kind == "b" and n >= OPEN_URLS):
            self.held[kind] += 1
            await self.gate.wait()
        return _html(f"{kind} {n}", "")


def _html(title: str, body: str) -> web.Response:
    html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body>"
    return web.Response(text=html, content_type="text/html")


@contextlib.asynccontextmanager
async def _site() -> AsyncIterator[GatedSite]:
    site = GatedSite()
    async with serve_app(site.app(), handler_cancellation=True, shutdown_timeout=0.5) as origin:
        site.origin = origin
        try:
            yield site
        finally:  # a failed test must not leave the nodes' workers waiting on held pages
            site.gate.set()


@contextlib.asynccontextmanager
async def _two_nodes(cluster: Cluster, root: Path) -> AsyncIterator[tuple[Service, Service]]:
    """Two API nodes on the cluster, one worker each, sharing the first one's admin."""

    def settings(name: str) -> Settings:
        return Settings(
            data_dir=root / name, nats_url=cluster.nats_url, replicas=3, workers=1,
            allow_private_networks=True,
        )  # fmt: skip

    async with run_service(settings("a")) as a:
        (root / "b").mkdir()
        (root / "b" / "admin-token").write_text(a.admin.token or "")
        async with run_service(settings("b")) as b:
            yield a, b


async def _create(svc: Service, path: str, body: dict[str, Any]) -> str:
    status, job = await svc.admin.call("POST", path, json=body)
    assert status == 201, job
    return str(job["id"])


async def _jobs_as_read(svc: Service) -> dict[str, tuple[Any, ...]]:
    """Every job as the node's read model holds it once it has applied the whole log."""
    last = (await svc.runtime.nc.jetstream().stream_info(JOBS_STREAM)).state.last_seq
    await svc.runtime.projector.wait_for(last, timeout=20)
    jobs = await svc.admin.all_items("/api/jobs")
    return {j["id"]: (j["status"], j["done"], j["failed"], j["job_title"]) for j in jobs}


async def test_the_jobs_leader_killed_mid_crawl_and_mid_batch(
    cluster: Cluster, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    async with _two_nodes(cluster, tmp_path) as (a, b), _site() as site:
        crawl = await _create(a, "/api/job/create/crawl", {
            "url": site.url("/"), "use_sitemap": False, "concurrency": 2,
        })  # fmt: skip
        urls = [site.url(f"/b/{i}") for i in range(URLS)]
        batch = await _create(b, "/api/job/create/scrape", {"urls": urls, "concurrency": 2})

        store = engine(a).store

        async def held() -> bool:
            crawl_state, batch_state = await store.load(crawl), await store.load(batch)
            assert crawl_state is not None and batch_state is not None
            return (
                crawl_state.done == OPEN_PAGES + 1 and batch_state.done == OPEN_URLS
                and site.held["p"] >= 2 and site.held["b"] >= 2
            )  # fmt: skip

        await wait_until(held, timeout=20)
        load = Load(
            [a.admin, b.admin], path="/api/job/create/scrape",
            body_of=lambda n: {"urls": [site.url(f"/load/{n}")]},
        )  # fmt: skip
        health = HealthWatch(a.admin.session, a.admin.base, "/health/ready")
        async with health.running(), load.running():
            await wait_until(lambda: load.ok_since(0) >= 10)
            old = await cluster.leader_of(JOBS_STREAM)
            killed = loop.time()
            await cluster.kill(old)
            site.gate.set()  # the held pages are fetched while JOBS elects a leader
            moving = asyncio.create_task(_moving_again(store, crawl, OPEN_PAGES + 1))
            new = await cluster.leader_of(JOBS_STREAM, not_on=old)
            elected = loop.time()
            moved = await moving
            await wait_until(lambda: load.ok_since(moved) >= 10, timeout=20)
            await wait_until(lambda: health.last_status() == 200, timeout=20)

        crawl_job = await finished(a.admin, crawl)
        batch_job = await finished(b.admin, batch)
        await _wait_all_ended(a, store)
        read_a, read_b = await _jobs_as_read(a), await _jobs_as_read(b)
        crawl_history = [s.event for s in await store.history(crawl)]
        batch_results = await results(a.admin, batch)

    assert new is not old
    assert crawl_job["status"] == 2 and crawl_job["done"] == PAGES + 1, crawl_job
    recorded = Counter(e.url for e in crawl_history if isinstance(e, PageRecorded))
    want = {site.url("/"), *(site.url(f"/p/{i}") for i in range(PAGES))}
    assert recorded == dict.fromkeys(want, 1)  # none lost, none twice
    assert batch_job["status"] == 2 and batch_job["done"] == URLS, batch_job
    assert Counter(r["url"] for r in batch_results) == dict.fromkeys(urls, 1)

    assert read_a == read_b  # both read models converge to the same jobs
    assert all(status >= 2 for status, *_ in read_a.values())  # every job ended
    answers = load.answers
    assert {x.status for x in answers} <= {201, 503}, Counter(x.status for x in answers)
    titles = {title for *_, title in read_a.values()}
    created = {site.url(f"/load/{x.n}") for x in answers if x.status == 201}
    refused = {site.url(f"/load/{x.n}") for x in answers if x.status != 201}
    assert created <= titles, sorted(created - titles)  # every job answered 201 exists
    assert not refused & titles, sorted(refused & titles)  # no job answered 503 exists
    # readiness said so: 503 while JOBS had no leader, 200 again once it had one
    electing = [x for x in health.samples if killed <= x.asked and x.answered <= elected]
    assert 503 in {x.status for x in electing}, electing
    assert {x.status for x in electing} <= {200, 503}
    print(
        f"pause: crawl moving {moved - killed:.3f} s after the kill, "
        f"{moved - elected:.3f} s after the new leader was seen ({elected - killed:.3f} s); "
        f"creates {len(answers)}, refused {len(refused)}"
    )


async def _all_ended(svc: Service) -> bool:
    return all(job["is_done"] for job in await svc.admin.all_items("/api/jobs"))


async def _wait_all_ended(svc: Service, store: EventLog) -> None:
    """Every job ended in the node's read model; on a timeout, fail naming the jobs that did
    not, with their state in the log."""
    try:
        await wait_until(lambda: _all_ended(svc), timeout=30, interval=0.1)
    except TimeoutError:
        jobs = await svc.admin.all_items("/api/jobs")
        open_jobs = [job for job in jobs if not job["is_done"]]
        in_log = [await store.load(job["id"]) for job in open_jobs]
        raise AssertionError(
            f"{len(open_jobs)} of {len(jobs)} jobs not ended: {open_jobs[:3]}; "
            f"in the log: {in_log[:3]}; consumers: {await _consumers(svc)}"
        ) from None


async def _consumers(svc: Service) -> dict[str, tuple[int | None, ...]]:
    """Each consumer's messages waiting, delivered and not acked, and redelivered."""
    js = svc.runtime.nc.jetstream()
    found: dict[str, tuple[int | None, ...]] = {}
    for stream in (JOBS_STREAM, WORK_STREAM):
        for info in await js.consumers_info(stream):
            found[info.name] = (info.num_pending, info.num_ack_pending, info.num_redelivered)
    return found


async def _moving_again(store: EventLog, job_id: str, done: int) -> float:
    """The loop time at which the log holds more than `done` pages of the job (a read that
    finds no leader yet counts as not yet)."""

    async def more() -> bool:
        with contextlib.suppress(StoreUnavailable):
            state = await store.load(job_id)
            return state is not None and state.done > done
        return False

    await wait_until(more, timeout=30)
    return asyncio.get_running_loop().time()
