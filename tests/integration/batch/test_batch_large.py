"""A 10,000-URL batch scrape is accepted as one job and its results are paged while it runs;
the create body's bounds answer 422 naming the field."""

from __future__ import annotations

from tests.integration.batch.site import BatchSite
from tests.support import Service, finished, get_job, wait_until

SCRAPE = "/api/job/create/scrape"


async def test_a_10000_url_batch_is_one_job_whose_results_page(
    working: Service, batch_site: BatchSite
) -> None:
    client = working.admin
    # one URL the site holds: the batch cannot end before it is canceled, however fast
    urls = [batch_site.url("/hold/0"), *(batch_site.url(f"/p/{n}") for n in range(9_999))]
    status, job = await client.call("POST", SCRAPE, json={"urls": urls, "concurrency": 100})
    assert status == 201, job
    assert (job["type"], job["total"], job["job_title"]) == (51, 10_000, "10000 URLs"), job

    async def some_recorded() -> bool:
        return int((await get_job(client, job["id"]))["done"]) >= 250

    await wait_until(some_recorded, timeout=60)
    path = f"/api/job/{job['id']}/results"
    _, first = await client.call("GET", path, params={"offset": 0, "limit": 100})
    _, second = await client.call("GET", path, params={"offset": 100, "limit": 100})
    assert first["total"] >= 250 and first["has_more"] and len(first["items"]) == 100, first
    seen = [r["url"] for r in first["items"] + second["items"]]
    assert len(set(seen)) == 200 and set(seen) <= set(urls[1:])
    assert all(r["ok"] and r["markdown"] for r in first["items"] + second["items"])

    status, body = await client.call("POST", f"/api/job/{job['id']}/cancel")
    assert status == 200, body
    job = await finished(client, job["id"], timeout=30)
    assert job["status"] == 4 and job["total"] == 10_000, job
    got = await client.all_items(path)
    assert len(got) == len({r["url"] for r in got}) == job["done"] + job["failed"]


async def test_the_create_bounds_name_their_field(working: Service, batch_site: BatchSite) -> None:
    client = working.admin
    too_many = [batch_site.url(f"/p/{n}") for n in range(10_001)]
    status, body = await client.call("POST", SCRAPE, json={"urls": too_many})
    assert status == 422 and body["field"] == "urls", body
    long = [batch_site.url(f"/p/{n}?{'q' * 120}") for n in range(5_000)]  # over 1 MB / 2
    status, body = await client.call("POST", SCRAPE, json={"urls": long})
    assert status == 422 and body["field"] == "urls", body
    assert "bytes of URLs" in body["detail"], body
    two = [batch_site.url("/p/1"), batch_site.url("/p/2")]
    for concurrency in (0, 101, "4"):
        body_ = {"urls": two, "concurrency": concurrency}
        status, body = await client.call("POST", SCRAPE, json=body_)
        assert status == 422 and body["field"] == "concurrency", (concurrency, body)
