"""`jobstream submit`, `watch` and `ls` as real processes against the running service."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from tests.sites.testsite import SiteHandle
from tests.support import Client, Service, cli_env, finished, run_cli, serve_app


class Ran:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err
        self.lines = out.strip().splitlines()

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


async def jobstream(*args: str) -> Ran:
    return Ran(*await run_cli(*args, env=cli_env()))


def conn(client: Client, base: str | None = None) -> list[str]:
    return ["--url", base or client.base, "--token", str(client.token)]


def created_id(ran: Ran) -> str:
    found = re.match(r"job (\S+) created: ", ran.lines[0])
    assert found, ran
    return found.group(1)


async def test_submit_crawl_watch_ends_with_the_jobs_counts_and_ls_lists_it(
    working: Service, site: SiteHandle
) -> None:
    admin = working.admin
    ran = await jobstream("submit", "crawl", site.base_url, "--concurrency", "4", "--watch",
                          *conn(admin))  # fmt: skip
    assert ran.code == 0, ran
    job_id = created_id(ran)
    job = await finished(admin, job_id)
    assert job["status"] == 2
    assert job["done"] == len(site.expected.ok) and job["failed"] == len(site.expected.failed)
    final = rf"✓ job {job_id} success: {job['done']} ok, {job['failed']} failed in \d+\.\d s"
    assert re.fullmatch(final, ran.lines[-1]), ran

    listed = await jobstream("ls", *conn(admin))
    assert listed.code == 0, listed
    row = next(line for line in listed.lines if job_id in line)
    assert "crawl" in row and "success" in row and "100.0%" in row, listed
    none = await jobstream("ls", "--status", "failed", *conn(admin))
    assert none.code == 0 and job_id not in none.out, none


async def test_watch_of_a_failed_scrape_batch_exits_1_with_one_bar_counting_its_urls(
    working: Service, site: SiteHandle
) -> None:
    urls = [site.url("/page/1"), site.url("/missing/0")]
    status, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": urls})
    assert status == 201, job
    ran = await jobstream("watch", job["id"], *conn(working.admin))
    assert ran.code == 1 and ran.lines, ran  # a crash exits 1 too, but prints no final line
    error = f"1 of 2 URLs failed; the first: {urls[1]}: HTTP 404"
    assert ran.lines[-1].startswith(f"✗ job {job['id']} failed: {error} ("), ran
    assert "1 ok, 1 failed in " in ran.lines[-1], ran
    assert not any("└ " in line for line in ran.lines), ran  # one job: no nested rows


async def test_a_bad_token_or_no_server_exits_2_saying_so(
    working: Service, unused_tcp_port: int
) -> None:
    bad = await jobstream("ls", "--url", working.admin.base, "--token", "js_not-a-token")
    assert bad.code == 2, bad
    assert bad.err.startswith("error: token rejected"), bad
    gone = await jobstream("watch", "01J00000000000000000000000", "--token", "x",
                           "--url", f"http://127.0.0.1:{unused_tcp_port}")  # fmt: skip
    assert gone.code == 2, gone
    assert f"cannot reach http://127.0.0.1:{unused_tcp_port}" in gone.err, gone
    missing = await jobstream("watch", "01J00000000000000000000000", *conn(working.admin))
    assert missing.code == 2 and "404" in missing.err, missing


class CuttingProxy:
    """A reverse proxy to the API that cuts the first job stream after its first `page` frame,
    recording the `Last-Event-ID` of every stream request and the last id it passed on."""

    def __init__(self, upstream: str, session: aiohttp.ClientSession) -> None:
        self.upstream = upstream
        self.session = session
        self.resumed_from: list[str | None] = []
        self.cut_after: str | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        url = self.upstream + request.path_qs
        body = await request.read()
        async with self.session.request(request.method, url, headers=headers, data=body) as up:
            resp = web.StreamResponse(status=up.status, headers={
                k: v for k, v in up.headers.items()
                if k.lower() in ("content-type", "cache-control")
            })  # fmt: skip
            await resp.prepare(request)
            if request.path.endswith("/stream") and "/job/" in request.path:
                self.resumed_from.append(request.headers.get("Last-Event-ID"))
                return await self._frames(up, resp, request)
            await resp.write(await up.read())
            await resp.write_eof()
            return resp

    async def _frames(
        self, up: aiohttp.ClientResponse, resp: web.StreamResponse, request: web.Request
    ) -> web.StreamResponse:
        frame: list[bytes] = []
        async for line in up.content:
            frame.append(line)
            if line.strip():
                continue
            await resp.write(b"".join(frame))
            text = b"".join(frame).decode()
            frame = []
            if self.cut_after is None and "event: page" in text:
                found = re.search(r"^id: (\d+)", text, re.M)
                assert found is not None, text
                self.cut_after = found.group(1)
                assert request.transport is not None
                request.transport.close()  # a dropped connection, mid-stream
                return resp
        return resp


@contextlib.asynccontextmanager
async def proxy_to(upstream: str) -> AsyncIterator[tuple[CuttingProxy, str]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        proxy = CuttingProxy(upstream, session)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        async with serve_app(app, handler_cancellation=True) as origin:
            yield proxy, origin


async def test_watch_resumes_a_dropped_stream_from_the_last_event_it_got(
    working: Service, site: SiteHandle
) -> None:
    admin = working.admin
    status, job = await admin.call(
        "POST", "/api/job/create/crawl", json={"url": site.base_url, "concurrency": 2}
    )
    assert status == 201, job
    async with proxy_to(admin.base) as (proxy, base):
        ran = await jobstream("watch", job["id"], *conn(admin, base))
    assert ran.code == 0, ran
    assert proxy.cut_after is not None
    assert proxy.resumed_from[:2] == [None, proxy.cut_after], proxy.resumed_from
    final = await finished(admin, job["id"])
    assert f"success: {final['done']} ok, {final['failed']} failed" in ran.lines[-1], ran
