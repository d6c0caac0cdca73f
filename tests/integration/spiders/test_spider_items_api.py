"""A SPIDER job made over HTTP and run by a worker against the local shop, read over HTTP: the
Job object's `spider` and `items_scraped`, the `spider_id` filter, `/items` paging and the
items export."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from tests.integration.api.helpers import assert_error, create
from tests.sites.shop import ShopHandle, item_key, load_definition, serve_shop
from tests.support import Client, Service, finished


@pytest.fixture
async def shop() -> AsyncIterator[ShopHandle]:
    async with serve_shop(23, per_page=10, seed=3) as handle:
        yield handle


async def spider_job(user: Client, shop: ShopHandle) -> tuple[dict[str, Any], dict[str, Any]]:
    """The user's shop spider and its SPIDER job over `shop`, once finished."""
    status, spider = await user.call("POST", "/api/spiders", json=load_definition())
    assert status == 201, spider
    body = {"spider_id": spider["id"], "arguments": {"start": shop.start_url}}
    status, job = await user.call("POST", "/api/job/create/spider", json=body)
    assert status == 201, job
    assert job["spider"] == {"id": spider["id"], "name": "shop"}
    assert job["items_scraped"] == 0
    return spider, await finished(user, job["id"], timeout=60)


async def download(client: Client, job_id: str, **params: str) -> tuple[int, str, bytes]:
    url = f"{client.base}/api/job/{job_id}/export"
    query = {"type": "items", **params}
    async with client.session.get(url, params=query, headers=client._headers(None)) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


async def test_a_spider_job_reads_its_spider_items_and_exports(
    working: Service, shop: ShopHandle
) -> None:
    user = await working.add_user("ann")
    spider, job = await spider_job(user, shop)
    expected = Counter(item_key(i) for i in shop.expected_items())
    assert job["status"] == 2, job
    assert job["spider"] == {"id": spider["id"], "name": "shop"}
    assert job["items_scraped"] == sum(expected.values())

    items = await user.all_items(f"/api/job/{job['id']}/items", limit=7)
    assert all(set(i) == {"url", "data"} for i in items)
    assert Counter(item_key(i) for i in items) == expected
    status, page = await user.call("GET", f"/api/job/{job['id']}/items", params={"limit": 5})
    assert (page["total"], page["offset"], page["limit"], page["has_more"]) == (
        len(items), 0, 5, True,
    )  # fmt: skip
    assert page["items"] == items[:5]  # the same order on every read

    status, kind, body = await download(user, job["id"])
    assert status == 200 and kind.startswith("application/x-ndjson")
    assert [msgspec.json.decode(line) for line in body.splitlines()] == items
    status, kind, body = await download(user, job["id"], format="csv")
    assert status == 200 and kind.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [{"url": r["url"], "data": msgspec.json.decode(r["data"])} for r in rows] == items


async def test_jobs_are_listed_by_spider_for_those_who_may_see_them(
    working: Service, shop: ShopHandle
) -> None:
    ann, bob = await working.add_user("ann"), await working.add_user("bob")
    spider, job = await spider_job(ann, shop)
    other = await create(ann, "/api/job/create/scrape", urls=[shop.url("/")])
    assert other["spider"] is None and other["items_scraped"] == 0

    status, page = await ann.call("GET", "/api/jobs", params={"spider_id": spider["id"]})
    assert status == 200, page
    assert [j["id"] for j in page["items"]] == [job["id"]]
    assert page["items"][0]["items_scraped"] == job["items_scraped"] > 0
    status, page = await ann.call("GET", "/api/jobs", params={"spider_id": "pl_nothing"})
    assert (status, page["total"]) == (200, 0)
    status, page = await bob.call("GET", "/api/jobs", params={"spider_id": spider["id"]})
    assert (status, page["total"]) == (200, 0)
    status, body = await ann.call("GET", "/api/jobs", params={"spider_id": "not a spider"})
    assert_error(status, body, 422, "spider_id")

    for path in (f"/api/job/{job['id']}/items", f"/api/job/{job['id']}/export?type=items"):
        status, body = await bob.call("GET", path)
        assert_error(status, body, 404)


async def test_a_job_without_items_has_an_empty_page_and_export(service: Service) -> None:
    """(No workers: the scrape stays pending.)"""
    job = await create(service.admin, "/api/job/create/scrape", urls=["https://example.com/"])
    status, page = await service.admin.call("GET", f"/api/job/{job['id']}/items")
    assert (status, page) == (
        200, {"total": 0, "offset": 0, "limit": 20, "has_more": False, "items": []},
    )  # fmt: skip
    status, _, body = await download(service.admin, job["id"])
    assert (status, body) == (200, b"")
    status, _, body = await download(service.admin, job["id"], format="csv")
    assert (status, body) == (200, b"url,data\r\n")
