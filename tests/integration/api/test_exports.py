"""`GET /api/job/{id}/export`: every result of a job as JSON Lines or CSV, streamed, and the
broken-links and slow-pages lists with the page each URL was found on."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest
from aiohttp import web

from api.exports import BATCH
from engine.domain.envelope import event_envelope
from engine.domain.events import PageRecorded
from engine.domain.model import JobType
from engine.jetstream.results import result_key
from tests.integration.api.helpers import assert_error, create_directly, engine, finish, start
from tests.support import Client, Service, finished, serve_app


async def _download(
    client: Client, job_id: str, **params: str
) -> tuple[aiohttp.ClientResponse, bytes]:
    """The export's response (its headers) and its whole body."""
    url = f"{client.base}/api/job/{job_id}/export"
    async with client.session.get(url, params=params, headers=client._headers(None)) as resp:
        return resp, await resp.read()


async def _scrape_with_pages(svc: Service, client: Client, count: int) -> str:
    """A finished SCRAPE of `client`'s holding `count` recorded pages with stored bodies,
    as a worker would have recorded them; every third page failed."""
    job = await create_directly(svc, client, JobType.SCRAPE, {"urls": ["https://a.test/"]})
    await start(svc, job["id"])
    js = svc.runtime.nc.jetstream()
    for n in range(count):
        url = f"https://a.test/page/{n}"
        ok = n % 3 != 0
        key = result_key(job["id"], url)
        body = {"title": f"Page {n}", "markdown": f'# Page {n}\n\nline, "quoted"', "links": []}
        await js.publish(key, msgspec.json.encode(body))
        meta = {"duration_ms": n, "bytes": 10 + n, "scraped_at": 1_000 + n}
        page = PageRecorded(
            **event_envelope(job["id"], "w"), url=url, ok=ok, status=200 if ok else 404,
            error=None if ok else "HTTP 404", meta=meta, result_key=key,
        )  # fmt: skip
        await engine(svc).store.append_unchecked(page)
    await finish(svc, job["id"], ok=True)
    return str(job["id"])


async def test_results_export_streams_every_result_as_the_pages_show_them(api: Service) -> None:
    user = await api.add_user("u")
    count = 2 * BATCH + 7  # more than two of the export's batches
    job_id = await _scrape_with_pages(api, user, count)
    paged = await user.all_items(f"/api/job/{job_id}/results")
    assert len(paged) == count

    resp, body = await _download(user, job_id, type="results", format="jsonl")
    assert resp.status == 200, body
    assert resp.headers["Content-Type"].startswith("application/x-ndjson")
    assert resp.headers["Content-Disposition"] == (
        f'attachment; filename="job-{job_id}-results.jsonl"'
    )
    assert "Content-Length" not in resp.headers  # streamed, not built whole first
    lines = body.decode().splitlines()
    assert [msgspec.json.decode(line) for line in lines] == paged

    resp, body = await _download(user, job_id, type="results", format="csv")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["Content-Disposition"].endswith(f'filename="job-{job_id}-results.csv"')
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [r["url"] for r in rows] == [p["url"] for p in paged]
    assert [r["markdown"] for r in rows] == [p["markdown"] for p in paged]
    assert [r["ok"] for r in rows] == ["true" if p["ok"] else "false" for p in paged]
    assert {r["found_on"] for r in rows} == {""}


async def test_broken_links_of_a_scrape_in_both_formats(api: Service) -> None:
    user = await api.add_user("u")
    job_id = await _scrape_with_pages(api, user, 7)
    resp, body = await _download(user, job_id, type="broken-links", format="jsonl")
    assert resp.status == 200, body
    listed = [msgspec.json.decode(line) for line in body.decode().splitlines()]
    assert listed == [
        {"url": f"https://a.test/page/{n}", "status_code": 404, "error": "HTTP 404",
         "duration_ms": n, "found_on": None}
        for n in (0, 3, 6)
    ]  # fmt: skip
    resp, body = await _download(user, job_id, type="broken-links")  # csv by default
    assert resp.headers["Content-Disposition"].endswith('-broken-links.csv"')
    header, *rows = list(csv.reader(io.StringIO(body.decode())))
    assert header == ["url", "status_code", "error", "duration_ms", "found_on"]
    assert [r[0] for r in rows] == [item["url"] for item in listed]


async def test_unknown_type_or_format_is_422_naming_it(api: Service) -> None:
    user = await api.add_user("u")
    job_id = await _scrape_with_pages(api, user, 1)
    for params, field in (
        ({"type": "everything"}, "type"),
        ({"type": "results", "format": "xlsx"}, "format"),
        ({}, "type"),
    ):
        status, error = await user.call("GET", f"/api/job/{job_id}/export", params=params)
        assert_error(status, error, 422, field)


async def test_another_users_export_is_404(api: Service) -> None:
    owner, other = await api.add_user("owner"), await api.add_user("other")
    job_id = await _scrape_with_pages(api, owner, 1)
    status, error = await other.call("GET", f"/api/job/{job_id}/export", params={"type": "results"})
    assert_error(status, error, 404)


class LinkSite:
    """`/` links to `/a`, `/gone/1` and `/gone/2`; `/a` links to `/gone/2` and `/gone/3`;
    every `/gone/*` is a 404."""

    LINKS = {"/": ["/a", "/gone/1", "/gone/2"], "/a": ["/gone/2", "/gone/3"]}

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/", self._page), web.get("/a", self._page)])
        return app

    async def _page(self, request: web.Request) -> web.Response:
        links = "".join(f'<a href="{href}">{href}</a>' for href in self.LINKS[request.path])
        return web.Response(text=f"<html><body>{links}</body></html>", content_type="text/html")


@pytest.fixture
async def link_site() -> AsyncIterator[str]:
    async with serve_app(LinkSite().app()) as origin:
        yield origin


async def test_broken_links_say_on_which_page_they_were_found(
    working: Service, link_site: str
) -> None:
    body = {"url": link_site + "/", "use_sitemap": False, "concurrency": 1}
    status, job = await working.admin.call("POST", "/api/job/create/crawl", json=body)
    assert status == 201, job
    job = await finished(working.admin, job["id"])
    assert (job["status"], job["failed"]) == (2, 3), job
    resp, raw = await _download(working.admin, job["id"], type="broken-links")
    assert resp.status == 200, raw
    rows = {r["url"]: r for r in csv.DictReader(io.StringIO(raw.decode()))}
    found_on = {url.removeprefix(link_site): r["found_on"] for url, r in rows.items()}
    # /gone/2 is linked from both: the page that offered it first, the root
    assert found_on == {"/gone/1": link_site + "/", "/gone/2": link_site + "/",
                        "/gone/3": link_site + "/a"}  # fmt: skip
    assert {r["status_code"] for r in rows.values()} == {"404"}
    results = await working.admin.all_items(f"/api/job/{job['id']}/results")
    by_url = {r["url"].removeprefix(link_site): r["found_on"] for r in results}
    assert by_url["/"] is None and by_url["/a"] == link_site + "/"
