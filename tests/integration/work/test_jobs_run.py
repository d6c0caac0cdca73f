"""Jobs really run: scrape, crawl, batches, dependencies, cancel, retry — over real HTTP."""

from __future__ import annotations

from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope, new_id
from engine.domain.model import JobType
from tests.integration.api.helpers import run
from tests.integration.work.helpers import HoldSite, results, scrape_after
from tests.sites.testsite import SiteHandle
from tests.support import Service, finished


async def test_scrape_one_url_records_its_page(working: Service, site: SiteHandle) -> None:
    url = site.url("/page/1")
    status, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
    assert status == 201 and job["type"] == 50
    job = await finished(working.admin, job["id"])
    assert job["status"] == 2, job
    [page] = await results(working.admin, job["id"])
    assert page["url"] == url and page["status_code"] == 200 and page["ok"]
    assert page["title"] and page["markdown"] and page["links"]
    assert page["scraped_at"] >= job["started_at"]
    _, plain = await working.admin.call("GET", f"/api/job/{job['id']}")
    assert plain["progress"] == 100 and "stats" not in plain and "logs" not in plain


async def test_scrape_decodes_by_the_header_charset_and_parses_only_ok_pages(
    working: Service, hold_site: HoldSite
) -> None:
    urls = [hold_site.url("/latin1"), hold_site.url("/gone")]
    _, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": urls})
    job = await finished(working.admin, job["id"])
    assert (job["done"], job["failed"]) == (1, 1), job
    by_url = {p["url"]: p for p in await results(working.admin, job["id"])}
    latin = by_url[urls[0]]
    assert latin["ok"] and latin["title"] == "Café déjà vu"
    assert "Crème brûlée" in latin["markdown"]
    gone = by_url[urls[1]]
    assert (gone["ok"], gone["status_code"], gone["error"]) == (False, 404, "HTTP 404")
    assert gone["title"] is None and not gone["markdown"] and not gone["links"]


async def test_scrape_batch_counts_its_urls(working: Service, site: SiteHandle) -> None:
    urls = [site.url("/page/2"), site.url("/page/3"), site.url("/missing/1")]
    _, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": urls})
    assert job["type"] == 51 and job["total"] == 3
    job = await finished(working.admin, job["id"])
    assert job["status"] == 3
    assert job["error"] == f"1 of 3 URLs failed; the first: {urls[2]}: HTTP 404"
    assert (job["done"], job["failed"], job["progress"]) == (2, 1, 100)
    _, children = await working.admin.call("GET", "/api/jobs", params={"parent_job_id": job["id"]})
    assert children["items"] == []  # one job: tests/integration/batch


async def test_crawl_fetches_exactly_the_reachable_pages(
    working: Service, site: SiteHandle
) -> None:
    body = {"url": site.base_url, "concurrency": 8}
    status, job = await working.admin.call("POST", "/api/job/create/crawl", json=body)
    assert status == 201 and job["type"] == 60, job
    job = await finished(working.admin, job["id"], timeout=90)
    assert job["status"] == 2, job
    pages = await results(working.admin, job["id"])
    urls = [r["url"] for r in pages]
    assert len(urls) == len(set(urls))
    assert {r["url"] for r in pages if r["ok"]} == set(site.expected.ok)
    assert {r["url"] for r in pages if not r["ok"]} == set(site.expected.failed)
    _, stats = await working.admin.call("GET", f"/api/job/{job['id']}/stats")
    assert stats["broken_links"] == len(site.expected.failed)
    assert stats["total_bytes"] > 0
    status, full = await working.admin.call(
        "GET", f"/api/job/{job['id']}", params={"include": "stats,progress,logs"}
    )
    assert status == 200, full
    assert full["stats"] == stats
    assert full["progress"]["completed_tasks"] == len(site.expected.ok)
    assert full["progress"]["failed_tasks"] == len(site.expected.failed)
    assert full["progress"]["percentage"] == 100.0
    assert [e["level"] for e in full["logs"]] == ["info"]
    assert "crawl finished" in full["logs"][0]["message"]
    _, listed = await working.admin.call(
        "GET", "/api/jobs", params={"include": "stats,progress", "category": "seo"}
    )
    [item] = listed["items"]
    assert item["stats"] == stats and item["progress"] == full["progress"]
    assert "logs" not in item
    status, bad = await working.admin.call("GET", "/api/jobs", params={"include": "everything"})
    assert status == 422 and bad["field"] == "include"


async def test_dependency_failure_fails_the_dependent(working: Service, site: SiteHandle) -> None:
    _, first = await working.admin.call(
        "POST", "/api/job/create/scrape", json={"urls": [site.url("/missing/7")]}
    )
    second = await scrape_after(working.admin, first["id"], site.url("/page/4"))
    assert (await finished(working.admin, first["id"]))["status"] == 3
    dependent = await finished(working.admin, second["id"])
    assert dependent["status"] == 3
    assert dependent["error"] == f"dependency {first['id']} failed"


async def test_a_job_its_worker_cannot_run_fails_fast_saying_why(working: Service) -> None:
    """A NOVEL naming a source the worker does not have (params the API would refuse, put
    in the log directly): it fails at once, fetching nothing."""
    user = await working.runtime.users.resolve(working.admin.token or "")
    job_id = new_id()
    params = {"url": "https://example.com/n", "full": False, "source": "nowhere"}
    await run(working, CreateJob(
        **command_envelope(job_id, user.id), user_id=user.id, type=int(JobType.NOVEL),
        priority=1, params=params,
    ))  # fmt: skip
    job = await finished(working.admin, job_id)
    assert job["status"] == 3 and (job["done"], job["failed"]) == (0, 0), job
    assert job["error"].startswith("no source is named 'nowhere' (known sources: "), job


async def test_retry_requeues_only_failed_urls(working: Service, site: SiteHandle) -> None:
    urls = [site.url("/page/5"), site.url("/missing/2")]
    _, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": urls[:1]})
    job = await finished(working.admin, job["id"])
    status, body = await working.admin.call("POST", f"/api/job/{job['id']}/retry")
    assert status == 400, body  # nothing failed
    _, batch = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": urls})
    batch = await finished(working.admin, batch["id"])
    assert batch["failed"] == 1
    status, again = await working.admin.call("POST", f"/api/job/{batch['id']}/retry")
    assert status == 200 and again["status"] in (0, 1), again
    batch = await finished(working.admin, batch["id"])
    assert batch["failed"] == 1 and batch["done"] == 1
    requests = [p for p in site.requests if p == "/page/5"]
    assert len(requests) == 2  # once for the single job, once for the batch; not on retry
