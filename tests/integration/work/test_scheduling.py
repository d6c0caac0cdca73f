"""Which job runs when: priority lanes, dependencies, and the WORK consumers' ack_wait."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.crawl.fetcher import FetchSettings
from engine.domain.events import JobStarted
from engine.jetstream.work import (
    ACK_WAIT_S,
    LANES,
    WORK_STREAM,
    consumer_name,
    ensure_work,
    work_ack_wait,
)
from engine.worker import CONCURRENCY, Worker
from tests.integration.work.helpers import (
    HoldSite,
    WorkerProcesses,
    scrape_after,
    wait_work_empty,
    work_left,
)
from tests.support import (
    Service,
    finished,
    get_job,
    shows_status,
    wait_consumed,
    wait_until,
)


async def test_one_worker_takes_high_then_normal_then_low(
    service: Service, hold_site: HoldSite
) -> None:
    """Queued while no worker runs; one slot then takes them strictly by priority."""
    nc = service.runtime.nc
    ids: dict[str, str] = {}
    for name, priority in (("low", 0), ("normal", 1), ("high", 2)):
        body = {"urls": [hold_site.url("/a")], "priority": priority}
        status, job = await service.admin.call("POST", "/api/job/create/scrape", json=body)
        assert status == 201 and job["priority"] == priority, job
        ids[name] = job["id"]

    async def queued() -> bool:
        return await work_left(nc) == 3

    await wait_until(queued)
    jobs_service = service.runtime.jobs.service
    worker = Worker(
        nc, jobs_service, service.runtime.results, FetchSettings(allow_private=True),
        concurrency=1, burst=True,
    )  # fmt: skip
    await asyncio.wait_for(worker.run(), 20)

    started: dict[str, int] = {}
    for name, job_id in ids.items():
        job = await get_job(service.admin, job_id)
        assert job["status"] == 2, job
        [seq] = [s.seq for s in await jobs_service.store.history(job_id) if _started(s.event)]
        started[name] = seq
    assert sorted(started, key=started.__getitem__) == ["high", "normal", "low"]
    jobs = {n: await get_job(service.admin, i) for n, i in ids.items()}
    assert jobs["high"]["finished_at"] <= jobs["normal"]["started_at"]
    assert jobs["normal"]["finished_at"] <= jobs["low"]["started_at"]
    assert await work_left(nc) == 0
    assert hold_site.hits["/a"] == 3


async def test_an_idle_worker_takes_each_published_item_at_once(
    service: Service, hold_site: HoldSite
) -> None:
    """The worker's own poll of every lane comes only once a minute here: each job below can
    start within the test's patience only because its publish woke the worker."""
    worker = Worker(
        service.runtime.nc, service.runtime.jobs.service, service.runtime.results,
        FetchSettings(allow_private=True), concurrency=2, idle_s=60,
    )  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        for priority in (0, 2, 1):  # low, high, normal: every lane rings
            await wait_until(lambda: worker.lanes.quiet)  # all lanes found empty: waiting
            body = {"urls": [hold_site.url("/a")], "priority": priority}
            _, job = await service.admin.call("POST", "/api/job/create/scrape", json=body)
            assert (await finished(service.admin, job["id"], timeout=15))["status"] == 2
    finally:
        worker.drain()
        await asyncio.wait_for(task, 10)  # a drain wakes the waiting slots at once
    assert hold_site.hits["/a"] == 3


def _started(event: object) -> bool:
    return isinstance(event, JobStarted)


async def test_dependent_starts_only_after_its_dependency_succeeded(
    working: Service, hold_site: HoldSite
) -> None:
    url = hold_site.url("/hold/1")
    _, dep = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
    dependent = await scrape_after(working.admin, dep["id"], hold_site.url("/a"))
    await wait_until(lambda: hold_site.hits["/hold/1"] == 1)
    # the read model may lag the log
    await wait_until(lambda: shows_status(working.admin, dep["id"], 1))
    # The dependency is running: the dependent must not have been queued, let alone started.
    await wait_consumed(working, "dispatcher")
    dependent = await get_job(working.admin, dependent["id"])
    assert dependent["status"] == 0 and dependent["started_at"] is None, dependent

    hold_site.release("/hold/1")
    dep = await finished(working.admin, dep["id"])
    dependent = await finished(working.admin, dependent["id"])
    assert dep["status"] == 2, dep
    assert dependent["started_at"] is not None
    assert dependent["started_at"] >= dep["finished_at"]
    # It ran, rather than being failed for its dependency.
    assert dependent["status"] == 2 and hold_site.hits["/a"] == 1, dependent


async def test_dependent_of_a_canceled_job_fails_naming_it(
    working: Service, hold_site: HoldSite
) -> None:
    url = hold_site.url("/hold/2")
    _, dep = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
    dependent = await scrape_after(working.admin, dep["id"], hold_site.url("/a"))
    await wait_until(lambda: hold_site.hits["/hold/2"] == 1)
    status, _ = await working.admin.call("POST", f"/api/job/{dep['id']}/cancel")
    assert status == 200
    assert (await finished(working.admin, dep["id"], timeout=5))["status"] == 4
    dependent = await finished(working.admin, dependent["id"], timeout=5)
    assert dependent["status"] == 3, dependent
    assert dependent["error"] == f"dependency {dep['id']} canceled"
    assert dependent["started_at"] is None
    await wait_work_empty(working.runtime.nc)


async def test_scrape_and_crawl_wait_for_their_dependency(
    working: Service, hold_site: HoldSite
) -> None:
    url = hold_site.url("/hold/3")
    _, dep = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
    bodies = {
        "scrape": {"urls": [hold_site.url("/a")], "depends_on": dep["id"]},
        "crawl": {"url": hold_site.url("/b"), "use_sitemap": False, "depends_on": dep["id"]},
    }
    ids = {}
    for kind, body in bodies.items():
        status, job = await working.admin.call("POST", f"/api/job/create/{kind}", json=body)
        assert status == 201 and job["depends_on"] == dep["id"], job
        ids[kind] = job["id"]
    await wait_until(lambda: hold_site.hits["/hold/3"] == 1)
    await wait_consumed(working, "dispatcher")
    for job_id in ids.values():
        job = await get_job(working.admin, job_id)
        assert job["status"] == 0 and job["started_at"] is None, job
    assert hold_site.hits["/a"] == 0 and hold_site.hits["/b"] == 0

    hold_site.release("/hold/3")
    dep = await finished(working.admin, dep["id"])
    assert dep["status"] == 2, dep
    for job_id in ids.values():
        job = await finished(working.admin, job_id)
        assert job["status"] == 2 and job["started_at"] >= dep["finished_at"], job
    assert hold_site.hits["/a"] == 1 and hold_site.hits["/b"] == 1


@pytest.mark.parametrize(
    ("kind", "body"),
    [("scrape", {"urls": ["https://example.com/"]}), ("crawl", {"domain": "example.com"})],
)
async def test_an_unknown_dependency_is_refused_naming_depends_on(
    service: Service, kind: str, body: dict[str, object]
) -> None:
    body = {**body, "depends_on": "01HZZZZZZZZZZZZZZZZZZZZZZZ"}
    status, error = await service.admin.call("POST", f"/api/job/create/{kind}", json=body)
    assert status == 422 and error["field"] == "depends_on", error
    assert "01HZZZZZZZZZZZZZZZZZZZZZZZ" in error["detail"]
    _, jobs = await service.admin.call("GET", "/api/jobs")
    assert jobs["total"] == 0


async def test_a_worker_runs_sixteen_jobs_at_once_by_default(
    service: Service, hold_site: HoldSite, nats_url: str, tmp_path: Path
) -> None:
    """`jobstream worker` without --concurrency: 16 jobs in hand, the 17th waits its turn."""
    assert CONCURRENCY == 16
    paths = [f"/hold/{n}" for n in range(CONCURRENCY + 1)]
    ids = []
    for path in paths:
        body = {"urls": [hold_site.url(path)]}
        _, job = await service.admin.call("POST", "/api/job/create/scrape", json=body)
        ids.append(job["id"])
    js = service.runtime.nc.jetstream()
    workers = WorkerProcesses(nats_url, tmp_path / "logs")
    try:
        await workers.start()
        await wait_until(lambda: len(hold_site.hits) == CONCURRENCY, timeout=20)

        async def sixteen_in_hand_one_waiting() -> bool:
            lanes = [await js.consumer_info(WORK_STREAM, consumer_name(n)) for _, n in LANES]
            in_hand = sum(i.num_ack_pending for i in lanes)
            return (in_hand, sum(i.num_pending for i in lanes)) == (CONCURRENCY, 1)

        # 16 in hand (heartbeated), the 17th waiting. On a loaded machine a slot's pull may be
        # answered after it stopped waiting: that item sits in the client, unheartbeated,
        # until ack_wait hands it back: (17, 0) for a while, never for good.
        await wait_until(sixteen_in_hand_one_waiting, timeout=2 * ACK_WAIT_S)
        assert len(hold_site.hits) == CONCURRENCY
        for path in paths:
            hold_site.release(path)
        for job_id in ids:
            assert (await finished(service.admin, job_id))["status"] == 2
        assert sorted(hold_site.hits) == sorted(paths)
    finally:
        await workers.close()


async def test_ack_wait_is_applied_to_existing_consumers_only_when_given(
    service: Service,
) -> None:
    js = service.runtime.nc.jetstream()
    assert await work_ack_wait(js) == ACK_WAIT_S == 10.0  # the default of a fresh stream
    await ensure_work(js, 2.5)
    for _, lane in LANES:
        info = await js.consumer_info(WORK_STREAM, consumer_name(lane))
        assert info.config.ack_wait == 2.5
    await ensure_work(js)  # a process without the setting keeps what is there
    assert await work_ack_wait(js) == 2.5
