"""Workers as real processes, SIGKILLed mid-job: the job resumes from the log, exactly once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from nats.aio.msg import Msg

from engine.domain.events import JobStarted, PageRecorded
from engine.domain.state import JobState
from engine.jetstream.store import EventStore
from tests.integration.api.helpers import engine
from tests.integration.work.helpers import (
    HoldSite,
    WorkerProcesses,
    kill,
    results,
    scrape_after,
    wait_work_empty,
)
from tests.sites.testsite import SiteHandle
from tests.support import QUEUE_ACK_WAIT_S as ACK_WAIT_S
from tests.support import Service, finished, stopped, wait_until


async def _reached(store: EventStore, job_id: str, attempt: int, pages: int) -> JobState:
    """Wait until attempt `attempt` of the job has recorded `pages` pages in all."""
    state: JobState | None = None

    async def there() -> bool:
        nonlocal state
        state = await store.load(job_id)
        if state is None or state.attempts != attempt:
            return False
        return state.done + state.failed >= pages

    await wait_until(there, timeout=20, interval=0.01)
    assert state is not None
    return state


async def test_a_crawl_survives_its_workers_being_killed(
    queue_only: Service, site: SiteHandle, nats_url: str, tmp_path: Path
) -> None:
    store = engine(queue_only).store
    reachable = site.expected.ok | site.expected.failed
    workers = WorkerProcesses(nats_url, tmp_path / "logs")
    try:
        body = {"url": site.base_url, "concurrency": 2, "delay_ms": 25}
        status, job = await queue_only.admin.call("POST", "/api/job/create/crawl", json=body)
        assert status == 201, job
        after = await scrape_after(queue_only.admin, job["id"], site.base_url)
        for attempt, pages in enumerate((10, 40, 70), start=1):
            proc = await workers.start("--concurrency", "2")
            await _reached(store, job["id"], attempt, pages)
            await kill(proc)
            state = await store.load(job["id"])
            assert state is not None and not state.is_done
            assert state.done + state.failed < len(reachable), "killed too late to matter"
        last = await workers.start("--concurrency", "2")
        job = await finished(queue_only.admin, job["id"], timeout=60)
        assert job["status"] == 2, (job, workers.log(3))

        got = await results(queue_only.admin, job["id"])
        urls = [r["url"] for r in got]
        assert len(urls) == len(set(urls))
        assert {r["url"] for r in got if r["ok"]} == set(site.expected.ok)
        assert {r["url"] for r in got if not r["ok"]} == set(site.expected.failed)

        history = [s.event for s in await store.history(job["id"])]
        pages = Counter(e.url for e in history if isinstance(e, PageRecorded))
        assert set(pages) == reachable
        assert [u for u, n in pages.items() if n != 1] == []
        starts = [e for e in history if isinstance(e, JobStarted)]
        assert [e.attempt for e in starts] == [1, 2, 3, 4]
        assert len({e.worker_id for e in starts}) == 4
        final = await store.load(job["id"])
        assert final is not None and final.attempts == 4

        # Released by the dispatcher, idle all the while: it ran.
        after = await finished(queue_only.admin, after["id"], timeout=10)
        assert after["status"] == 2 and after["done"] == 1, after
        assert after["started_at"] >= job["finished_at"]
        await wait_work_empty(queue_only.runtime.nc)
        assert await stopped(last, 10) == 0
    finally:
        await workers.close()


async def test_a_job_whose_workers_keep_dying_fails_after_max_attempts(
    queue_only: Service, hold_site: HoldSite, nats_url: str, tmp_path: Path
) -> None:
    store = engine(queue_only).store
    nc = queue_only.runtime.nc
    beats: list[str] = []

    async def heard(msg: Msg) -> None:
        if msg.data == b"+WPI":
            beats.append(msg.subject)

    sub = await nc.subscribe("$JS.ACK.WORK.>", cb=heard)
    workers = WorkerProcesses(nats_url, tmp_path / "logs", JOBSTREAM_MAX_ATTEMPTS="2")
    try:
        url = hold_site.url("/hold/1")
        _, job = await queue_only.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
        after = await scrape_after(queue_only.admin, job["id"], hold_site.url("/a"))
        proc = await workers.start("--concurrency", "2")
        await _reached(store, job["id"], 1, 0)
        await wait_until(lambda: hold_site.hits["/hold/1"] == 1)
        # Alive, the worker keeps the item well past ack_wait: no second attempt meanwhile.
        await wait_until(lambda: len(beats) >= 4, timeout=2 * ACK_WAIT_S)
        state = await store.load(job["id"])
        assert state is not None and state.attempts == 1 and hold_site.hits["/hold/1"] == 1
        await kill(proc)

        proc = await workers.start("--concurrency", "2")
        await _reached(store, job["id"], 2, 0)
        await wait_until(lambda: hold_site.hits["/hold/1"] == 2)
        await kill(proc)

        last = await workers.start("--concurrency", "2")
        job = await finished(queue_only.admin, job["id"], timeout=15)
        assert job["status"] == 3, job
        assert job["error"] == "gave up after 2 attempts: workers died"
        state = await store.load(job["id"])
        assert state is not None and state.attempts == 2
        assert hold_site.hits["/hold/1"] == 2  # the third delivery did not run it again
        after = await finished(queue_only.admin, after["id"], timeout=5)
        assert after["error"] == f"dependency {job['id']} failed", after
        await wait_work_empty(nc)
        assert await stopped(last, 10) == 0
    finally:
        await sub.unsubscribe()
        await workers.close()
