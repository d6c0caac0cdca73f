"""`jobstream worker`: workers alone against NATS_URL (or the embedded server of a `serve`),
drained on SIGTERM/SIGINT; and the start-up of a worker that `serve` shares."""

from __future__ import annotations

import asyncio
import signal

from nats.aio.client import Client as NATS

from api.settings import Settings
from engine.crawl.fetcher import FetchSettings
from engine.events import Codec
from engine.nats_access import NatsAccess
from engine.results import ResultStore, open_results
from engine.service import JobService
from engine.store import EventStore, wait_for_jetstream
from engine.work import ensure_work
from engine.worker import Worker


async def open_work(nc: NATS, settings: Settings) -> ResultStore:
    """The WORK stream and consumers (with `settings`' ack wait) and RESULTS, ensured; the
    result store workers record into."""
    js = nc.jetstream()
    await ensure_work(js, settings.work_ack_wait_s)
    return await open_results(js, nc.max_payload)


def build_worker(
    nc: NATS, service: JobService, results: ResultStore, settings: Settings, *,
    burst: bool = False,
) -> Worker:  # fmt: skip
    """A worker with `settings`' concurrency, attempts and private-network policy."""
    return Worker(
        nc, service, results, FetchSettings(allow_private=settings.allow_private_networks),
        concurrency=settings.worker_concurrency, burst=burst, max_attempts=settings.max_attempts,
    )  # fmt: skip


async def run_worker(access: NatsAccess, settings: Settings, *, burst: bool) -> int:
    """One worker on the server of `access` until drained (or, with `burst`, until the queue is
    empty); exit status 0."""
    nc = await wait_for_jetstream(access)
    try:
        store = EventStore(nc, Codec())
        await store.ensure()
        results = await open_work(nc, settings)
        worker = build_worker(nc, JobService(store), results, settings, burst=burst)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.drain)
        await worker.run()
    finally:
        await nc.close()
    return 0
