"""Cancel reaches a running job within about a second; what it fetched stays; the item is acked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.settings import Settings
from tests.integration.work.helpers import HoldSite, results, wait_work_empty
from tests.support import Service, finished, get_job, run_service, shows_status, wait_until

CANCELED = 4


@pytest.fixture
async def two_slots(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """One in-process worker running two jobs at a time."""
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, workers=1, worker_concurrency=2,
        allow_private_networks=True,
    )  # fmt: skip
    async with run_service(settings) as svc:
        yield svc


async def _cancel_soon(svc: Service, job_id: str) -> dict[str, object]:
    status, body = await svc.admin.call("POST", f"/api/job/{job_id}/cancel")
    assert status == 200, body
    await wait_until(lambda: shows_status(svc.admin, job_id, CANCELED), timeout=3)
    return await get_job(svc.admin, job_id)


async def test_cancel_stops_a_running_crawl_and_keeps_its_pages(
    working: Service, hold_site: HoldSite
) -> None:
    body = {
        "url": hold_site.url("/"), "concurrency": 4, "use_sitemap": False,
        "respect_robots": False,
    }  # fmt: skip
    status, job = await working.admin.call("POST", "/api/job/create/crawl", json=body)
    assert status == 201, job

    async def three_pages_and_held() -> bool:
        done = (await get_job(working.admin, job["id"]))["done"]
        return done >= 3 and hold_site.hits["/hold/1"] == 1

    await wait_until(three_pages_and_held)
    job = await _cancel_soon(working, job["id"])
    assert job["is_done"] and job["finished_at"] is not None
    got = await results(working.admin, job["id"])
    assert sorted(r["url"] for r in got) == [hold_site.url(p) for p in ("/", "/a", "/b")]
    assert all(r["ok"] for r in got)
    await wait_work_empty(working.runtime.nc)
    await wait_until(lambda: hold_site.cancelled == ["/hold/1"])  # fetch abandoned


async def test_cancel_interrupts_a_scrape_waiting_on_its_page(
    working: Service, hold_site: HoldSite
) -> None:
    url = hold_site.url("/hold/2")
    _, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
    assert job["type"] == 50
    await wait_until(lambda: hold_site.hits["/hold/2"] == 1)
    job = await _cancel_soon(working, job["id"])
    assert job["done"] == 0 and job["failed"] == 0
    assert await results(working.admin, job["id"]) == []
    await wait_work_empty(working.runtime.nc)
    await wait_until(lambda: hold_site.cancelled == ["/hold/2"])


async def test_cancel_of_a_batch_stops_its_fetches_in_flight_and_starts_no_other(
    two_slots: Service, hold_site: HoldSite
) -> None:
    paths = [f"/hold/{n}" for n in range(10, 15)]
    body = {"urls": [hold_site.url(p) for p in paths], "concurrency": 2}
    _, batch = await two_slots.admin.call("POST", "/api/job/create/scrape", json=body)
    assert batch["type"] == 51 and batch["total"] == 5
    await wait_until(lambda: sum(hold_site.hits.values()) == 2)  # both fetches held

    status, ok = await two_slots.admin.call("POST", f"/api/job/{batch['id']}/cancel")
    assert status == 200, ok
    batch = await finished(two_slots.admin, batch["id"], timeout=5)
    assert batch["status"] == CANCELED, batch
    assert (batch["done"], batch["failed"]) == (0, 0)
    await wait_work_empty(two_slots.runtime.nc)
    assert sorted(p for p in paths if hold_site.hits[p]) == paths[:2]
    await wait_until(lambda: sorted(hold_site.cancelled) == paths[:2])  # no fetch finished
