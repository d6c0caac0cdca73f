"""The composition root: what a process opens, starts and stops, wired in one place."""

from __future__ import annotations

from nats.aio.client import Client as NATS

from api.settings import Settings
from engine.crawl.fetcher import FetchSettings
from engine.jetstream.results import ResultStore, open_results
from engine.jetstream.work import ensure_work
from engine.service import JobService
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
