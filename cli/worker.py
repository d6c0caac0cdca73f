"""`jobstream worker`: workers alone against NATS_URL (or the embedded server of a `serve`),
drained on SIGTERM/SIGINT; and the start-up of a worker that `serve` shares."""

from __future__ import annotations

import asyncio
import signal

from api.runtime import build_worker, open_work
from api.settings import Settings
from cli.nats_reach import reach_nats
from engine.domain.events import Codec
from engine.jetstream.nats_access import NatsAccess
from engine.jetstream.store import EventStore
from engine.service import JobService


async def run_worker(
    access: NatsAccess, settings: Settings, *, burst: bool, wait_s: float = 0.0
) -> int:
    """One worker on the server of `access` until drained (or, with `burst`, until the queue is
    empty); exit status 0. NatsUnreachable (one line) when NATS does not answer within
    `wait_s` seconds."""
    nc = await reach_nats(access, wait_s)
    try:
        store = EventStore(nc, Codec())
        await store.ensure(settings.replicas)
        results = await open_work(nc, settings)
        worker = build_worker(nc, JobService(store), results, settings, burst=burst)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.drain)
        await worker.run()
    finally:
        await nc.close()
    return 0
