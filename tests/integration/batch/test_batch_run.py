"""A SCRAPE_BATCH is one job: a result per URL, progress in URLs, retry, cancel — over HTTP."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.integration.batch.site import BatchSite
from tests.integration.streams.helpers import stream
from tests.support import Client, Service, finished, get_job, wait_until

SCRAPE = "/api/job/create/scrape"


async def create(client: Client, urls: list[str], **extra: Any) -> dict[str, Any]:
    status, job = await client.call("POST", SCRAPE, json={"urls": urls, **extra})
    assert status == 201, job
    return dict(job)


async def results(client: Client, job_id: str) -> list[dict[str, Any]]:
    return await client.all_items(f"/api/job/{job_id}/results", limit=7)


async def test_a_batch_records_a_result_per_url_in_one_job(
    working: Service, batch_site: BatchSite
) -> None:
    pages = [batch_site.url(f"/p/{n}") for n in range(24)]
    missing = [batch_site.url("/missing/1"), batch_site.url("/missing/2")]
    urls = [*pages[:10], missing[1], *pages[10:], missing[0], pages[3]]  # pages[3] twice
    job = await create(working.admin, urls, concurrency=4)
    assert (job["type"], job["total"], job["job_title"]) == (51, 26, "26 URLs"), job
    job = await finished(working.admin, job["id"])
    assert job["status"] == 3, job
    assert job["error"] == f"2 of 26 URLs failed; the first: {missing[1]}: HTTP 404", job
    assert (job["done"], job["failed"], job["total"], job["progress"]) == (24, 2, 26, 100)

    got = await results(working.admin, job["id"])
    assert Counter(r["url"] for r in got) == Counter(set(urls))
    assert {r["url"] for r in got if not r["ok"]} == set(missing)
    assert all(r["markdown"] and r["title"] for r in got if r["ok"])
    assert Counter(batch_site.log) == Counter(batch_site.path(u) for u in set(urls))
    _, children = await working.admin.call("GET", "/api/jobs", params={"parent_job_id": job["id"]})
    assert children["items"] == []  # no child jobs: the batch did the work itself

    frames = await stream(working.admin, f"/api/job/{job['id']}/stream", last_id=0)
    assert sorted(f.data["url"] for f in frames if f.event == "page") == sorted(set(urls))
    assert frames[-1].event == "done"


async def test_a_batch_whose_urls_all_answer_succeeds(
    working: Service, batch_site: BatchSite
) -> None:
    urls = [batch_site.url(f"/p/{n}") for n in range(40)]
    job = await finished(working.admin, (await create(working.admin, urls))["id"])
    assert (job["status"], job["error"], job["done"], job["failed"]) == (2, None, 40, 0), job
    assert [r["url"] for r in await results(working.admin, job["id"])] != []
    _, logs = await working.admin.call("GET", f"/api/job/{job['id']}/logs")
    assert [e["message"] for e in logs] == [
        "batch run finished: 40 fetched, 40 ok; 40 of 40 URLs ok in all"
    ]


async def test_retry_fetches_only_the_failed_urls(working: Service, batch_site: BatchSite) -> None:
    pages = [batch_site.url(f"/p/{n}") for n in range(6)]
    flaky = [batch_site.url("/flaky/1"), batch_site.url("/flaky/2")]
    urls = [pages[0], flaky[0], *pages[1:], flaky[1]]
    job = await finished(working.admin, (await create(working.admin, urls))["id"])
    assert job["status"] == 3, job
    assert job["error"] == f"2 of 8 URLs failed; the first: {flaky[0]}: HTTP 404", job

    batch_site.heal()
    status, again = await working.admin.call("POST", f"/api/job/{job['id']}/retry")
    assert status == 200 and again["status"] in (0, 1), again
    job = await finished(working.admin, job["id"])
    assert (job["status"], job["error"], job["done"], job["failed"]) == (2, None, 8, 0), job

    got = await results(working.admin, job["id"])
    assert sorted(r["url"] for r in got) == sorted(urls) and all(r["ok"] for r in got)
    assert {batch_site.path(u): batch_site.hits[batch_site.path(u)] for u in urls} == {
        batch_site.path(u): 2 if u in flaky else 1 for u in urls
    }
    status, body = await working.admin.call("POST", f"/api/job/{job['id']}/retry")
    assert status in (400, 409), body  # nothing failed any more


async def test_cancel_stops_the_fetches_in_flight_and_keeps_what_was_recorded(
    working: Service, batch_site: BatchSite
) -> None:
    first = [batch_site.url(f"/p/{n}") for n in range(4)]
    held = [batch_site.url("/hold/1"), batch_site.url("/hold/2")]
    later = [batch_site.url(f"/p/{n}") for n in range(100, 120)]
    job = await create(working.admin, [*first, *held, *later], concurrency=2)

    async def stuck() -> bool:
        row = await get_job(working.admin, job["id"])
        return batch_site.held == 2 and row["done"] == len(first)

    await wait_until(stuck, timeout=20)
    status, body = await working.admin.call("POST", f"/api/job/{job['id']}/cancel")
    assert status in (200, 202), body
    job = await finished(working.admin, job["id"])
    assert (job["status"], job["done"], job["failed"]) == (4, 4, 0), job
    assert sorted(r["url"] for r in await results(working.admin, job["id"])) == sorted(first)
    await wait_until(lambda: sorted(batch_site.cancelled) == ["/hold/1", "/hold/2"])
    assert not any(batch_site.hits[batch_site.path(u)] for u in later)
