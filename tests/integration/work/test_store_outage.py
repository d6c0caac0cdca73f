"""A store outage while pages are recorded is not the job's fault: it resumes, it never fails."""

from __future__ import annotations

from collections import Counter

from engine.domain.events import JobFailed, JobStarted, PageRecorded
from tests.integration.api.helpers import engine
from tests.integration.work.helpers import HoldSite, results, results_subjects
from tests.support import Service, finished, get_job, wait_until


async def test_pages_recorded_during_a_results_outage_are_resumed_not_failed(
    working: Service, hold_site: HoldSite
) -> None:
    js = working.runtime.nc.jetstream()
    store = engine(working).store
    body = {"url": hold_site.url("/"), "use_sitemap": False, "concurrency": 1}
    status, job = await working.admin.call("POST", "/api/job/create/crawl", json=body)
    assert status == 201, job

    async def three_recorded() -> bool:
        state = await store.load(job["id"])
        return state is not None and state.done == 3  # "/", "/a" and "/b"

    await wait_until(three_recorded)
    await wait_until(lambda: hold_site.hits["/hold/1"] == 1)
    await results_subjects(js, ["results-paused.>"])
    hold_site.release("/hold/1")
    # The page cannot be stored: the worker waits, resumes the job and fetches it again.
    await wait_until(lambda: hold_site.hits["/hold/1"] >= 3, timeout=15)
    during = await get_job(working.admin, job["id"])
    assert during["status"] == 1 and during["error"] is None, during

    await results_subjects(js, ["results.>"])
    job = await finished(working.admin, job["id"])
    assert job["status"] == 2, job
    pages = await results(working.admin, job["id"])
    want = {hold_site.url(p) for p in ("/", "/a", "/b", "/hold/1")}
    assert sorted(r["url"] for r in pages) == sorted(want)
    assert all(r["ok"] and r["title"] for r in pages), pages

    history = [s.event for s in await store.history(job["id"])]
    recorded = Counter(e.url for e in history if isinstance(e, PageRecorded))
    assert recorded == dict.fromkeys(want, 1)
    assert [e.attempt for e in history if isinstance(e, JobStarted)] == [1]  # resumed in place
    assert not [e for e in history if isinstance(e, JobFailed)]
    # Resumed from the log: the pages stored before the outage were not fetched again.
    assert [hold_site.hits[p] for p in ("/", "/a", "/b")] == [1, 1, 1]
