"""Worker-test helpers: a site that holds pages open, API polling, worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope
from engine.domain.model import JobType
from engine.jetstream.results import RESULTS_STREAM
from engine.service import new_id
from tests.support import Client, cli_env, serve_app, spawn, wait_until


def scrape() -> CreateJob:
    """A new one-URL SCRAPE job (of a closed port: nothing runs it unless a test does)."""
    return CreateJob(
        **command_envelope(new_id(), "u"), user_id="u", type=int(JobType.SCRAPE), priority=1,
        params={"urls": ["http://127.0.0.1:9/"]}, title="t",
    )  # fmt: skip


class HoldSite:
    """`/` links to `/a`, `/b` and `/hold/1`; a `/hold/<n>` page answers once released.
    `/latin1` is ISO-8859-1 named only by its Content-Type; `/gone` is an HTML 404.

    `hits` counts requests per path; `cancelled` lists held requests whose client went away.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.cancelled: list[str] = []
        self._release: dict[str, asyncio.Event] = {}
        self.origin = ""

    def url(self, path: str) -> str:
        return self.origin + path

    def release(self, path: str) -> None:
        self._event(path).set()

    def release_all(self) -> None:
        for event in self._release.values():
            event.set()

    def _event(self, path: str) -> asyncio.Event:
        return self._release.setdefault(path, asyncio.Event())

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/", self._index),
                web.get("/hold/{n}", self._hold),
                web.get("/{name:[ab]}", self._plain),
                web.get("/latin1", self._latin1),
                web.get("/gone", self._gone),
            ]
        )
        return app

    async def _index(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        links = "".join(f'<a href="{p}">{p}</a>' for p in ("/a", "/b", "/hold/1"))
        return _html("Home", links)

    async def _plain(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        return _html(request.path, "")

    async def _latin1(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        body = "<html><head><title>Café déjà vu</title></head><body><p>Crème brûlée</p>"
        return web.Response(
            body=body.encode("iso-8859-1"),
            headers={"Content-Type": "text/html; charset=ISO-8859-1"},
        )

    async def _gone(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        response = _html("Not here", '<a href="/a">home</a>')
        response.set_status(404)
        return response

    async def _hold(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        try:
            await self._event(request.path).wait()
        except asyncio.CancelledError:
            self.cancelled.append(request.path)
            raise
        return _html(request.path, "")


def _html(title: str, body: str) -> web.Response:
    text = f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"
    return web.Response(text=text, content_type="text/html")


@contextlib.asynccontextmanager
async def serve_hold_site() -> AsyncIterator[HoldSite]:
    site = HoldSite()
    async with serve_app(site.app(), handler_cancellation=True, shutdown_timeout=0.5) as origin:
        site.origin = origin
        try:
            yield site
        finally:
            site.release_all()


async def scrape_after(client: Client, job_id: str, url: str) -> dict[str, Any]:
    """A SCRAPE of `url` (a local page) depending on `job_id`: once released it runs, or it
    fails with its dependency's failure."""
    body = {"urls": [url], "depends_on": job_id}
    status, job = await client.call("POST", "/api/job/create/scrape", json=body)
    assert status == 201 and job["depends_on"] == job_id, job
    return dict(job)


async def results(client: Client, job_id: str) -> list[dict[str, Any]]:
    return await client.all_items(f"/api/job/{job_id}/results")


async def results_subjects(js: JetStreamContext, subjects: list[str]) -> None:
    """Point RESULTS at other subjects (publishes to results.> then find no stream) or back."""
    config = (await js.stream_info(RESULTS_STREAM)).config
    config.subjects = subjects
    await js.update_stream(config)


async def work_left(nc: NATS) -> int:
    info = await nc.jetstream().stream_info("WORK")
    return int(info.state.messages)


async def wait_work_empty(nc: NATS, timeout: float = 5) -> None:
    async def empty() -> bool:
        return await work_left(nc) == 0

    await wait_until(empty, timeout=timeout)


class WorkerProcesses:
    """`jobstream worker` processes against one NATS server; any left are killed at the end."""

    def __init__(self, nats_url: str, log_dir: Path, **env: str) -> None:
        self.env = cli_env(NATS_URL=nats_url, **env)
        self.log_dir = log_dir
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"worker-{len(self.procs)}.log"
        proc = await spawn(log, "worker", "--allow-private-networks", *args, env=self.env)
        self.procs.append(proc)
        return proc

    def log(self, index: int) -> str:
        return (self.log_dir / f"worker-{index}.log").read_text()

    async def close(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await proc.wait()


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    assert await proc.wait() == -signal.SIGKILL
