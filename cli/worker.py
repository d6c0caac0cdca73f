"""`jobstream worker`: workers alone against NATS_URL (or the embedded server of a `serve`),
drained on SIGTERM/SIGINT (its jobs in hand given JOBSTREAM_WORKER_DRAIN seconds); and the start-up
of a worker that `serve` shares."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.runtime import build_worker, open_work
from api.settings import Settings
from cli.nats_reach import reach_nats
from engine.domain.events import Codec
from engine.drain import drained
from engine.jetstream.nats_access import NatsAccess
from engine.jetstream.store import EventStore
from engine.metrics import Metrics
from engine.service import JobService
from engine.worker import Worker


async def _until_stopped(worker: Worker, drain_s: float) -> None:
    """Run `worker` until it is done (burst mode) or SIGTERM/SIGINT; then drain it, its jobs
    in hand given `drain_s` seconds (engine/drain.py)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        task.result()
    else:
        await drained(worker, task, drain_s)


async def run_worker(
    access: NatsAccess, settings: Settings, *, burst: bool, wait_s: float = 0.0,
    metrics_at: tuple[str, int] | None = None,
) -> int:  # fmt: skip
    """One worker on the server of `access` until drained (or, with `burst`, until the queue is
    empty); exit status 0. NatsUnreachable (one line) when NATS does not answer within
    `wait_s` seconds. With `metrics_at` (host, port), the worker's own metrics (the jobs it
    started and ended, its fetches, NATS reconnects) are served at `/metrics` there."""
    nc = await reach_nats(access, wait_s)
    metrics = Metrics()
    metrics.track_reconnects(lambda: int(nc.stats["reconnects"]))
    try:
        async with _serving(metrics, metrics_at):
            store = EventStore(nc, Codec())
            await store.ensure(settings.replicas)
            results = await open_work(nc, settings)
            service = JobService(store, observe=metrics.appended)
            worker = build_worker(nc, service, results, settings, burst=burst, metrics=metrics)
            await _until_stopped(worker, settings.worker_drain_s)
    finally:
        await nc.close()
    return 0


@contextlib.asynccontextmanager
async def _serving(metrics: Metrics, at: tuple[str, int] | None) -> AsyncIterator[None]:
    """`GET /metrics` of `metrics` on `at` (host, port) while the block runs (a worker has
    no API of its own for a scraper to reach)."""
    if at is None:
        yield
        return

    async def render(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", render)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, at[0], at[1]).start()
        yield
    finally:
        await runner.cleanup()
