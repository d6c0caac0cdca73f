"""A batch scrape whose worker process is SIGKILLed mid-batch: redelivered, it resumes after
the URLs the log holds, and every URL has exactly one result."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from engine.domain.events import JobStarted, PageRecorded
from engine.domain.state import JobState
from engine.jetstream.store import EventStore
from tests.integration.api.helpers import engine
from tests.integration.batch.site import BatchSite
from tests.integration.work.helpers import WorkerProcesses, kill, results, wait_work_empty
from tests.support import Service, finished, stopped, wait_until


async def test_a_killed_batch_resumes_without_fetching_a_recorded_url_again(
    queue_only: Service, batch_site: BatchSite, nats_url: str, tmp_path: Path
) -> None:
    store = engine(queue_only).store
    fast = [batch_site.url(f"/p/{n}") for n in range(30)]
    missing = [batch_site.url(f"/missing/{n}") for n in range(3)]
    held = [batch_site.url(f"/hold/{n}") for n in range(4)]
    rest = [batch_site.url(f"/p/{n}") for n in range(100, 120)]
    urls = [*fast[:10], missing[0], *fast[10:20], missing[1], *fast[20:], missing[2], *held, *rest]
    body = {"urls": urls, "concurrency": 4}
    status, job = await queue_only.admin.call("POST", "/api/job/create/scrape", json=body)
    assert status == 201 and job["total"] == len(urls), job
    workers = WorkerProcesses(nats_url, tmp_path / "logs")
    try:
        proc = await workers.start("--concurrency", "1")
        first = len(fast) + len(missing)
        await _recorded_while_held(store, batch_site, job["id"], first)
        await kill(proc)
        after_kill = await store.load(job["id"])
        assert after_kill is not None and not after_kill.is_done
        recorded = after_kill.ok_urls | after_kill.failed_urls
        assert len(recorded) >= first and not recorded & set(held)
        batch_site.release_all()

        last = await workers.start("--concurrency", "1")
        job = await finished(queue_only.admin, job["id"], timeout=60)
        assert job["status"] == 3, (job, workers.log(1))
        assert job["error"] == f"3 of {len(urls)} URLs failed; the first: {missing[0]}: HTTP 404"
        assert (job["done"], job["failed"]) == (len(urls) - 3, 3), job

        history = [s.event for s in await store.history(job["id"])]
        pages = Counter(e.url for e in history if isinstance(e, PageRecorded))
        assert pages == Counter(urls)  # every URL exactly once, across both attempts
        assert [e.attempt for e in history if isinstance(e, JobStarted)] == [1, 2]
        fetched = Counter(batch_site.log)
        assert [u for u in recorded if fetched[batch_site.path(u)] != 1] == []
        got = await results(queue_only.admin, job["id"])
        assert sorted(r["url"] for r in got) == sorted(urls)
        await wait_work_empty(queue_only.runtime.nc)
        assert await stopped(last, 10) == 0
    finally:
        await workers.close()


async def _recorded_while_held(
    store: EventStore, site: BatchSite, job_id: str, pages: int
) -> JobState:
    """Wait until the job's first attempt has `pages` pages in the log and its fetches are
    all held."""
    state: JobState | None = None

    async def there() -> bool:
        nonlocal state
        state = await store.load(job_id)
        return state is not None and state.done + state.failed >= pages and site.held == 4

    await wait_until(there, timeout=30, interval=0.01)
    assert state is not None
    return state
