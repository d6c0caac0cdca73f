"""A work item that carries its job's creation: its first delivery runs the job without
reading it back; whatever was written since (a cancel, another worker's run) still wins."""

from __future__ import annotations

import asyncio
from collections import Counter

import msgspec
from nats.aio.client import Client as NATS

from engine.crawl.fetcher import FetchSettings
from engine.domain.events import Codec
from engine.domain.state import JobState
from engine.jetstream.results import result_key
from engine.jetstream.store import EventStore
from engine.jetstream.work import WORK_STREAM, WorkItem, work_message
from engine.service import JobService
from engine.worker import Worker
from tests.integration.work.helpers import HoldSite, results, work_left
from tests.support import Service, finished, get_job, shows_status, wait_until

RUNNING, SUCCESS, CANCELED = 1, 2, 4


class CountingStore(EventStore):
    """The real store, counting the jobs it reads back."""

    loads: Counter[str]

    async def load(self, job_id: str, known: JobState | None = None) -> JobState | None:
        self.loads[job_id] += 1
        return await super().load(job_id, known)


def counting_worker(svc: Service, **kwargs: object) -> tuple[Worker, CountingStore]:
    store = CountingStore(svc.runtime.nc, Codec())
    store.loads = Counter()
    worker = Worker(
        svc.runtime.nc, JobService(store), svc.runtime.results,
        FetchSettings(allow_private=True), **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    return worker, store


async def queued_scrapes(svc: Service, urls: list[str]) -> list[str]:
    """One SCRAPE job per URL, once the dispatcher has made all their work items."""
    ids = []
    for url in urls:
        status, job = await svc.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
        assert status == 201, job
        ids.append(job["id"])

    async def queued() -> bool:
        return await work_left(svc.runtime.nc) == len(urls)

    await wait_until(queued)
    return ids


async def queued_items(nc: NATS) -> list[WorkItem]:
    js = nc.jetstream()
    info = await js.stream_info(WORK_STREAM)
    seqs = range(info.state.first_seq, info.state.last_seq + 1)
    return [msgspec.json.decode((await js.get_msg(WORK_STREAM, s)).data or b"", type=WorkItem)
            for s in seqs]  # fmt: skip


async def test_a_fresh_item_runs_its_scrape_without_reading_the_job(
    service: Service, hold_site: HoldSite
) -> None:
    ids = await queued_scrapes(service, [hold_site.url("/a"), hold_site.url("/b")])
    items = await queued_items(service.runtime.nc)
    assert [i.created.job_id if i.created else None for i in items] == ids
    assert all(i.created and i.trigger > 0 for i in items)
    worker, store = counting_worker(service, concurrency=2, burst=True)
    await asyncio.wait_for(worker.run(), 20)
    for job_id in ids:
        job = await finished(service.admin, job_id)
        assert job["status"] == SUCCESS and job["done"] == 1, job
        _, events = await service.admin.call("GET", f"/api/job/{job_id}/events")
        assert [e["kind"] for e in events["items"]] == [
            "created", "started", "page", "progress", "succeeded",
        ]  # fmt: skip
        assert len(await results(service.admin, job_id)) == 1
    assert store.loads == Counter()  # neither job was read back
    assert await work_left(service.runtime.nc) == 0


async def test_a_cancel_between_create_and_pickup_still_cancels(
    service: Service, hold_site: HoldSite
) -> None:
    [job_id] = await queued_scrapes(service, [hold_site.url("/a")])
    status, body = await service.admin.call("POST", f"/api/job/{job_id}/cancel")
    assert status == 200, body
    worker, store = counting_worker(service, concurrency=1, burst=True)
    await asyncio.wait_for(worker.run(), 20)
    await wait_until(lambda: shows_status(service.admin, job_id, CANCELED))
    _, events = await service.admin.call("GET", f"/api/job/{job_id}/events")
    assert [e["kind"] for e in events["items"]] == ["created", "canceled"]
    assert await results(service.admin, job_id) == []
    assert store.loads[job_id] >= 1  # the held append was refused: the job was read then
    assert await work_left(service.runtime.nc) == 0


async def test_a_fresh_duplicate_of_a_running_job_leaves_it_to_its_worker(
    service: Service, hold_site: HoldSite
) -> None:
    """A second item for a job already live elsewhere (its creation carried, first delivery):
    the held run is dropped once it is slow and the log shows the job moved on."""
    [job_id] = await queued_scrapes(service, [hold_site.url("/hold/31")])
    [item] = await queued_items(service.runtime.nc)
    first, _ = counting_worker(service, concurrency=1)
    running = asyncio.create_task(first.run())
    try:
        await wait_until(lambda: shows_status(service.admin, job_id, RUNNING))
        subject, data, _ = work_message(job_id, 1, item.trigger, item.created)
        await service.runtime.nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": "d"})
        second, store = counting_worker(service, concurrency=1, burst=True)
        await asyncio.wait_for(second.run(), 20)
        assert hold_site.hits["/hold/31"] == 2 and store.loads[job_id] >= 1
        hold_site.release("/hold/31")
        job = await finished(service.admin, job_id)
    finally:
        first.drain()
        await asyncio.wait_for(running, 10)
    assert job["status"] == SUCCESS, job
    _, events = await service.admin.call("GET", f"/api/job/{job_id}/events")
    kinds = [e["kind"] for e in events["items"]]
    assert kinds.count("started") == 1 and kinds.count("page") == 1, kinds
    assert len(await results(service.admin, job_id)) == 1
    assert (await get_job(service.admin, job_id))["done"] == 1


async def test_a_job_purged_before_pickup_leaves_no_body_behind(
    service: Service, hold_site: HoldSite
) -> None:
    """The held run fetched and stored its body before its append was refused: the job is
    gone from the log, so the body goes too."""
    url = hold_site.url("/a")
    [job_id] = await queued_scrapes(service, [url])
    status, body = await service.admin.call("POST", f"/api/job/{job_id}/cancel")
    assert status == 200, body
    status, body = await service.admin.call("DELETE", f"/api/job/{job_id}?purge=true")
    assert status in (200, 204), body
    worker, _ = counting_worker(service, concurrency=1, burst=True)
    await asyncio.wait_for(worker.run(), 20)
    assert hold_site.hits["/a"] == 1  # it was fetched: the item did not know of the purge
    assert await service.runtime.results.get(result_key(job_id, url)) is None
    assert await work_left(service.runtime.nc) == 0
