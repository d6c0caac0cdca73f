"""How a run ends: a job that fetched nothing FAILS naming the cause; a partial failure
succeeds with its counts. Real jobs, real workers, real HTTP servers on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from api.settings import Settings
from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope
from engine.domain.model import JobType
from engine.service import new_id
from tests.integration.api.helpers import run as execute
from tests.integration.work.helpers import results
from tests.sites.testsite import SiteHandle
from tests.support import Service, finished, free_port, run_service, serve_app

ALLOW_HINT = "start the server with --allow-private-networks to allow it"
FAILED, SUCCESS = 3, 2


@pytest.fixture
async def guarded(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """The service with one in-process worker and the private-network guard on."""
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, workers=1, allow_private_networks=False
    )
    async with run_service(settings) as svc:
        yield svc


class Pages:
    """A site of fixed pages: path -> (status, body); `hits` counts requests per path."""

    def __init__(self, pages: dict[str, tuple[int, str]]) -> None:
        self.pages = pages
        self.hits: Counter[str] = Counter()
        self.origin = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        status, body = self.pages.get(request.path, (404, "not here"))
        kind = "text/plain" if request.path.endswith((".txt", ".xml")) else "text/html"
        if request.path.endswith(".xml"):
            kind = "application/xml"
        return web.Response(status=status, text=body, content_type=kind)


@pytest.fixture
async def pages() -> AsyncIterator[Pages]:
    """An empty `Pages` site, served; each test fills `pages.pages`."""
    site = Pages({})
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", site.handle)
    async with serve_app(app) as origin:
        site.origin = origin
        yield site


def html(*links: str) -> str:
    return (
        "<html><body>"
        + "".join(f'<a href="{link}">{link}</a>' for link in links)
        + "</body></html>"
    )


async def run(svc: Service, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    status, job = await svc.admin.call("POST", f"/api/job/create/{kind}", json=body)
    assert status == 201, job
    return await finished(svc.admin, job["id"], timeout=60)


# -- refused by the private-network guard -------------------------------------------------


async def test_a_crawl_the_guard_refuses_fails_saying_how_to_allow_it(
    guarded: Service, site: SiteHandle
) -> None:
    job = await run(guarded, "crawl", {"url": site.base_url})
    assert job["status"] == FAILED, job
    assert job["error"].startswith(f"{site.base_url} refused: "), job
    assert job["error"].endswith(ALLOW_HINT), job
    assert (job["done"], job["failed"]) == (0, 1), job
    assert site.page_requests() == []  # nothing reached the site


async def test_a_scrape_the_guard_refuses_fails_and_so_does_its_batch(
    guarded: Service, site: SiteHandle
) -> None:
    url = site.url("/page/1")
    job = await run(guarded, "scrape", {"urls": [url]})
    assert job["status"] == FAILED, job
    assert job["error"].startswith(f"{url} refused: ") and job["error"].endswith(ALLOW_HINT)
    [page] = await results(guarded.admin, job["id"])
    assert not page["ok"] and page["error"] == job["error"]

    batch = await run(guarded, "scrape", {"urls": [url, site.url("/page/2")]})
    assert batch["status"] == FAILED, batch
    assert batch["error"] == f"2 of 2 URLs failed; the first: {job['error']}", batch
    pages = await results(guarded.admin, batch["id"])
    assert [p["ok"] for p in pages] == [False, False]
    assert all(ALLOW_HINT in p["error"] for p in pages), pages
    assert site.page_requests() == []


# -- connection refused -------------------------------------------------------------------


async def test_a_crawl_of_a_closed_port_fails_naming_the_connection_error(
    working: Service,
) -> None:
    root = f"http://127.0.0.1:{free_port()}/"  # bound and released: nothing listens there
    job = await run(working, "crawl", {"url": root})
    # robots.txt could not be fetched, and RFC 9309 then allows nothing
    assert job["status"] == FAILED, job
    assert job["error"].startswith(f"{root} not fetched: robots.txt could not be read ("), job
    assert "Cannot connect to host" in job["error"], job
    assert (job["done"], job["failed"]) == (0, 0), job

    job = await run(working, "crawl", {"url": root, "respect_robots": False})
    assert job["status"] == FAILED, job
    assert root in job["error"] and "Cannot connect to host" in job["error"], job
    assert (job["done"], job["failed"]) == (0, 1), job


async def test_a_scrape_of_a_closed_port_fails_naming_the_connection_error(
    working: Service,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/page"
    job = await run(working, "scrape", {"urls": [url]})
    assert job["status"] == FAILED, job
    assert url in job["error"] and "Cannot connect to host" in job["error"], job


# -- robots.txt and HTTP answers -------------------------------------------------------------


async def test_a_crawl_whose_start_url_robots_disallows_fails(
    working: Service, pages: Pages
) -> None:
    pages.pages = {
        "/robots.txt": (200, "User-agent: *\nDisallow: /\n"),
        "/": (200, html("/a")),
    }
    job = await run(working, "crawl", {"url": pages.origin + "/", "use_sitemap": False})
    assert job["status"] == FAILED, job
    assert job["error"] == f"{pages.origin}/ not fetched: robots.txt disallows it", job
    assert pages.hits == Counter({"/robots.txt": 1})

    # Only the start URL is disallowed; the sitemap's pages may be fetched, and all fail.
    sitemap = "".join(f"<url><loc>{pages.origin}/{p}</loc></url>" for p in ("a", "b"))
    pages.pages = {
        "/robots.txt": (200, "User-agent: *\nDisallow: /$\n"),
        "/sitemap.xml": (200, f'<?xml version="1.0"?><urlset>{sitemap}</urlset>'),
    }
    job = await run(working, "crawl", {"url": pages.origin + "/"})
    assert job["status"] == FAILED, job
    assert job["error"] == (
        f"{pages.origin}/ not fetched: robots.txt disallows it; 2 other URLs failed"
    ), job
    assert (job["done"], job["failed"]) == (0, 2), job


async def test_a_crawl_whose_every_url_failed_fails_with_the_start_urls_error(
    working: Service, pages: Pages
) -> None:
    sitemap = "".join(f"<url><loc>{pages.origin}/{p}</loc></url>" for p in ("a", "b"))
    pages.pages = {
        "/": (404, html("/c")),
        "/sitemap.xml": (200, f'<?xml version="1.0"?><urlset>{sitemap}</urlset>'),
    }
    job = await run(working, "crawl", {"url": pages.origin + "/"})
    assert job["status"] == FAILED, job
    assert job["error"] == f"all 3 URLs failed; the first: {pages.origin}/: HTTP 404", job
    assert (job["done"], job["failed"]) == (0, 3), job

    job = await run(working, "crawl", {"url": pages.origin + "/a", "use_sitemap": False})
    assert job["status"] == FAILED and job["error"] == f"{pages.origin}/a: HTTP 404", job


async def test_a_partial_failure_succeeds_with_its_counts(working: Service, pages: Pages) -> None:
    pages.pages = {"/": (200, html("/ok", "/missing", "/broken")), "/ok": (200, html())}
    pages.pages["/broken"] = (410, "gone")
    job = await run(working, "crawl", {"url": pages.origin + "/", "use_sitemap": False})
    assert job["status"] == SUCCESS and job["error"] is None, job
    assert (job["done"], job["failed"]) == (2, 2), job
    by_url = {p["url"]: p for p in await results(working.admin, job["id"])}
    assert by_url[pages.origin + "/missing"]["error"] == "HTTP 404"
    assert by_url[pages.origin + "/broken"]["status_code"] == 410


async def test_a_crawl_logged_with_a_url_the_crawler_refuses_fails_without_a_crash(
    working: Service,
) -> None:
    """A job in the log from before the API checked URLs: it fails with the parser's reason."""
    admin = await working.runtime.users.resolve(working.admin.token)
    job_id = new_id()
    create = CreateJob(
        **command_envelope(job_id, "test"), user_id=admin.id, type=int(JobType.CRAWL), priority=1,
        params={"url": "http://example.com:99999/"}, title="old",
    )  # fmt: skip
    await execute(working, create)  # as if logged before; waits for the read model
    job = await finished(working.admin, job_id, timeout=60)
    assert job["status"] == FAILED, job
    assert job["error"] == (
        "invalid crawl parameters: port '99999' is not a number from 1 to 65535: "
        "'http://example.com:99999/'"
    ), job
