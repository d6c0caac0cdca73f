"""Test support: real nats-server on a free port, the real app served over HTTP, and the
installed `jobstream` command."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
import uvicorn
from aiohttp import web
from nats.js import JetStreamContext

from api.app import create_app
from api.deps import RUNTIME_KEY
from api.http_protocol import JsonErrorsProtocol
from api.runtime import Runtime
from api.settings import Settings
from engine.domain.model import Tier
from engine.jetstream.embedded import embedded_nats, read_credentials, stop_process
from engine.jetstream.store import wait_for_jetstream

JOBSTREAM = str(Path(sys.executable).parent / "jobstream")


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without what `jobstream` reads from it (NATS_URL and
    JOBSTREAM_*), plus `extra`."""
    ours = {k for k in os.environ if k == "NATS_URL" or k.startswith("JOBSTREAM_")}
    return {k: v for k, v in os.environ.items() if k not in ours} | extra


async def spawn(log: Path, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """`jobstream *args` in the background, its stdout and stderr written to `log`."""
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            JOBSTREAM, *args, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`jobstream *args` run to its end (60 s at most): exit status, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        JOBSTREAM, *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def stopped(proc: asyncio.subprocess.Process, timeout: float = 15) -> int:
    """SIGTERM `proc` (unless it exited already) and its exit status; TimeoutError when it
    takes longer than `timeout` seconds (it is killed then)."""
    if await stop_process(proc, timeout):
        raise TimeoutError(f"pid {proc.pid} still ran {timeout} s after SIGTERM: killed")
    assert proc.returncode is not None
    return proc.returncode


def served_nats_url(data_dir: Path, port: int) -> str:
    """NATS_URL for the embedded server of `jobstream serve --data-dir data_dir --nats-port
    port`, with the credentials it keeps in `data_dir` (the user:password form)."""
    credentials = read_credentials(data_dir)
    user, password = quote(credentials.user, safe=""), quote(credentials.password, safe="")
    return f"nats://{user}:{password}@127.0.0.1:{port}"


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on now. For several, see `free_ports`."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct ports of 127.0.0.1 nothing listens on now. Their sockets are held
    until all are bound: ports asked for one after another may repeat (the kernel may hand
    out a port just released again), and a cluster given one port twice does not start."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def nats_pids(store: Path) -> list[int]:
    """Live nats-server processes storing under `store` (zombies have no command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args[0].endswith(b"nats-server") and str(store).encode() in args:
            found.append(int(entry.name))
    return found


async def wait_until(
    check: Callable[[], Awaitable[bool] | bool], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll `check` (a plain or an async predicate) until it is true; fail the test after
    `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await _holds(check):  # noqa: ASYNC110 - polling a condition, with a deadline
            await asyncio.sleep(interval)


async def _holds(check: Callable[[], Awaitable[bool] | bool]) -> bool:
    result = check()
    return bool(await result) if inspect.isawaitable(result) else bool(result)


@contextlib.asynccontextmanager
async def nats_server(store: Path) -> AsyncIterator[str]:
    """A real nats-server with JetStream on a free port, storing under `store`."""
    async with embedded_nats(store, free_port(), None) as url:
        nc = await wait_for_jetstream(url)
        await nc.close()
        yield url


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, **options: Any) -> AsyncIterator[str]:
    """Serve an aiohttp `app` on 127.0.0.1 at a free port until the block ends; yields its
    origin (`http://127.0.0.1:<port>`). `options` go to `web.AppRunner`."""
    runner = web.AppRunner(app, **options)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class Client:
    """An HTTP client of the running API, authenticated as one user."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str | None) -> None:
        self.session = session
        self.base = base
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return headers | (extra or {})

    async def call(
        self, method: str, path: str, *, json: Any = None, data: Any = None,
        headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:  # fmt: skip
        async with self.session.request(
            method, self.base + path, json=json, data=data, params=params,
            headers=self._headers(headers),
        ) as resp:  # fmt: skip
            body = await resp.read()
            return resp.status, msgspec.json.decode(body) if body else None

    def as_user(self, token: str | None) -> Client:
        return Client(self.session, self.base, token)

    async def all_items(self, path: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Every item of a paged endpoint (`{total, has_more, items}`, offset/limit), in
        order, read `limit` items a page; never more than the last page's `total` counts.
        Each page's `has_more` must say whether items lie beyond it."""
        items: list[dict[str, Any]] = []
        while True:
            params = {"offset": len(items), "limit": limit}
            status, page = await self.call("GET", path, params=params)
            assert status == 200, page
            beyond = len(items) + len(page["items"]) < page["total"]
            assert page["has_more"] is beyond, page
            items += page["items"]
            if not page["items"]:
                return items
            if len(items) >= page["total"]:
                assert len(items) == page["total"], page
                return items


async def get_job(client: Client, job_id: str) -> dict[str, Any]:
    """The job as `GET /api/job/{id}` shows it to `client`."""
    status, job = await client.call("GET", f"/api/job/{job_id}")
    assert status == 200, job
    return dict(job)


async def shows_status(client: Client, job_id: str, status: int) -> bool:
    """Whether the read model shows the job with `status` (it may lag the log): a check for
    `wait_until`."""
    return bool((await get_job(client, job_id))["status"] == status)


async def finished(client: Client, job_id: str, timeout: float = 30) -> dict[str, Any]:
    """The job once the read model shows it ended."""
    job: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal job
        job = await get_job(client, job_id)
        return bool(job["is_done"])

    await wait_until(done, timeout=timeout, interval=0.05)
    return job


class Service:
    """The app running under uvicorn on 127.0.0.1, with its settings and admin client."""

    def __init__(self, settings: Settings, server: uvicorn.Server, admin: Client) -> None:
        self.settings = settings
        self.server = server
        self.admin = admin
        self.app = server.config.app

    @property
    def runtime(self) -> Runtime:
        """What the app runs on: the record its lifespan built (it is up once served)."""
        runtime = self.app.state[RUNTIME_KEY]
        assert isinstance(runtime, Runtime)
        return runtime

    async def add_user(self, name: str, *, tier: Tier = Tier.BASIC, admin: bool = False) -> Client:
        users = self.runtime.users
        return self.admin.as_user(await users.add(name, tier=tier, admin=admin))


async def wait_consumed(svc: Service, consumer: str, timeout: float = 10.0) -> None:
    """Wait until the JOBS consumer `consumer` has handled every event logged so far: each was
    acked or terminated, none waits, is in hand or is due for a redelivery."""
    js = svc.runtime.nc.jetstream()
    await wait_until(lambda: consumer_idle(js, consumer), timeout=timeout)


async def consumer_idle(js: JetStreamContext, consumer: str, stream: str = "JOBS") -> bool:
    """Whether `consumer` of `stream` has nothing waiting and nothing in hand."""
    info = await js.consumer_info(stream, consumer)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


# As `serve` does: a request still open this long after shutdown begins is cut off (a
# browser's connection a test left open must not hold the test's teardown).
GRACEFUL_S = 5  # seconds
QUEUE_ACK_WAIT_S = 2.0  # the `queue_only` service's WORK ack_wait (tests/conftest.py)
STOP_S = 30  # seconds for the whole stop: the graceful wait, then the lifespan's shutdown


@contextlib.asynccontextmanager
async def run_service(settings: Settings) -> AsyncIterator[Service]:
    """Serve `create_app(settings)` over real HTTP until the block ends."""
    port = free_port()
    settings = msgspec.structs.replace(settings, port=port, print_admin_token=False)
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning",
        http=JsonErrorsProtocol, timeout_graceful_shutdown=GRACEFUL_S,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: _started(server, task), timeout=30)
        token = settings.admin_token_path.read_text().strip()
        async with aiohttp.ClientSession() as session:
            yield Service(settings, server, Client(session, f"http://127.0.0.1:{port}", token))
    finally:
        server.should_exit = True
        await _stopped_server(task)


async def _stopped_server(task: asyncio.Task[None]) -> None:
    """The server's task ended; a stop that hangs fails the test naming what still runs
    (pytest-timeout's alarm cannot interrupt a fixture's teardown inside the event loop)."""
    try:
        await asyncio.wait_for(asyncio.shield(task), STOP_S)
    except TimeoutError:
        stacks = [
            f"{t.get_name()}: {t.get_coro()!r}\n" + "".join(_frames(t))
            for t in asyncio.all_tasks() if t is not asyncio.current_task()
        ]  # fmt: skip
        raise AssertionError(
            f"the service did not stop in {STOP_S:g} s:\n" + "\n".join(stacks)
        ) from None


def _frames(task: asyncio.Task[Any]) -> list[str]:
    out = io.StringIO()
    task.print_stack(file=out)
    return [out.getvalue()]


def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()
        raise RuntimeError("server exited during start-up")
    return server.started
