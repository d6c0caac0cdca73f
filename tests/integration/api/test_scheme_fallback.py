"""A crawl of a domain without a scheme: https first, http when https cannot connect; a start
URL that is not fetched says why, in the job's log and in its error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.support import Client, Service, finished, serve_app


async def _page(request: web.Request) -> web.Response:
    body = "<html><body><a href='/b'>b</a></body></html>"
    return web.Response(text=body, content_type="text/html")


async def _robots(request: web.Request) -> web.Response:
    return web.Response(text="User-agent: *\nDisallow: /\n")


@pytest.fixture
async def plain_site() -> AsyncIterator[str]:
    """A plain-HTTP site on 127.0.0.1: `/` links to `/b`; `/closed/robots.txt` is absent."""
    app = web.Application()
    app.add_routes([web.get("/", _page), web.get("/b", _page)])
    async with serve_app(app) as origin:
        yield origin


@pytest.fixture
async def closed_site() -> AsyncIterator[str]:
    """A plain-HTTP site whose robots.txt disallows everything."""
    app = web.Application()
    app.add_routes([web.get("/", _page), web.get("/robots.txt", _robots)])
    async with serve_app(app) as origin:
        yield origin


async def _crawl(client: Client, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The finished crawl of `body`, and its log's messages."""
    status, job = await client.call("POST", "/api/job/create/crawl", json=body)
    assert status == 201, job
    job = await finished(client, job["id"], timeout=60)
    status, logs = await client.call("GET", f"/api/job/{job['id']}/logs")
    assert status == 200, logs
    return job, [line["message"] for line in logs]


async def test_a_bare_domain_speaking_plain_http_is_crawled_over_http(
    working: Service, plain_site: str
) -> None:
    domain = plain_site.removeprefix("http://")
    job, logs = await _crawl(working.admin, {"domain": domain})
    assert (job["status"], job["done"], job["failed"]) == (2, 2, 0), job
    pages = await working.admin.all_items(f"/api/job/{job['id']}/results")
    assert {p["url"] for p in pages} == {f"{plain_site}/", f"{plain_site}/b"}
    [note] = [m for m in logs if "https could not connect" in m]
    assert f"crawling {plain_site}/ instead" in note and "https://" in note


async def test_a_url_with_https_is_not_downgraded(working: Service, plain_site: str) -> None:
    url = "https://" + plain_site.removeprefix("http://") + "/"
    job, logs = await _crawl(working.admin, {"url": url, "use_sitemap": False,
                                             "respect_robots": False})  # fmt: skip
    assert (job["status"], job["done"]) == (3, 0), job
    assert url in job["error"] and "SSL" in job["error"], job
    assert not [m for m in logs if "could not connect" in m], logs


async def test_a_skipped_start_url_says_why_in_the_log_and_the_error(
    working: Service, closed_site: str
) -> None:
    job, logs = await _crawl(working.admin, {"url": closed_site + "/"})
    assert job["status"] == 3, job
    assert "robots.txt" in job["error"] and closed_site in job["error"], job
    [skipped] = [m for m in logs if m.startswith("start URL")]
    assert skipped.startswith(f"start URL {closed_site}/ skipped: ") and "robots" in skipped


async def test_a_start_url_https_cannot_reach_says_why(working: Service, plain_site: str) -> None:
    url = "https://" + plain_site.removeprefix("http://") + "/"
    job, logs = await _crawl(working.admin, {"url": url})  # robots.txt over https fails
    assert job["status"] == 3, job
    [skipped] = [m for m in logs if m.startswith("start URL")]
    assert "robots.txt could not be read" in skipped and url in skipped, logs
    assert "robots.txt could not be read" in job["error"], job
