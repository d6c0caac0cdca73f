"""`jobstream worker`: workers alone against NATS_URL, drained on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from api.settings import nats_url_from_env
from engine.crawl.fetcher import FetchSettings
from engine.events import Codec
from engine.results import ResultStore
from engine.service import JobService
from engine.store import EventStore, wait_for_jetstream
from engine.work import ensure_work
from engine.worker import MAX_ATTEMPTS, Worker


async def run_worker(
    concurrency: int, *, burst: bool, allow_private: bool, ack_wait: float | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> int:  # fmt: skip
    nc = await wait_for_jetstream(nats_url_from_env())
    try:
        store = EventStore(nc, Codec())
        await store.ensure()
        js = nc.jetstream()
        await ensure_work(js, ack_wait)
        results = ResultStore(js, nc.max_payload)
        await results.ensure()
        worker = Worker(
            nc, JobService(store), results, FetchSettings(allow_private=allow_private),
            concurrency=concurrency, burst=burst, max_attempts=max_attempts,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.drain)
        await worker.run()
    finally:
        await nc.close()
    return 0
