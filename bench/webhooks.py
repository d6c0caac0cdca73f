"""Webhook delivery vs bare aiohttp POSTs to the same local receiver, in one run.

    .venv/bin/python bench/webhooks.py [--jobs 500] [--hooks 2] [--concurrency 32]

One fresh nats-server (the project's nats.conf). A user has `--hooks` webhooks on
`job.completed`; `--jobs` jobs are created and finished by appending their events to JOBS, as
workers do; one `Deliverer` (the API's) delivers them to an aiohttp receiver on 127.0.0.1.
Reported: deliveries per second, and the latency from a `succeeded` event's append to its
arrival at the receiver (p50, p99). The ceiling: the same number of POSTs of the same bodies,
signed, from a bare aiohttp loop with the same concurrency, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec
from aiohttp import web

from bench._support import free_port, percentile
from engine.domain.events import Codec, JobCreated, JobSucceeded
from engine.jetstream.embedded import default_conf, embedded_nats
from engine.jetstream.store import EventStore, wait_for_jetstream
from engine.service import new_id, now_ms
from streams.deliveries import DeliveryLog
from streams.signing import new_secret
from streams.webhook_http import headers_for
from streams.webhook_store import Webhook, WebhookStore
from streams.webhooks import Deliverer, DeliverySettings
from tests.support import serve_app


class Sink:
    """Counts POSTs and when each arrived, by `data.job_id`."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        self.done = asyncio.Event()
        self.expected = 0

    async def post(self, request: web.Request) -> web.Response:
        body = msgspec.json.decode(await request.read())
        self.arrived.setdefault(body["data"]["job_id"], time.perf_counter())
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        return web.Response(status=204)

    def reset(self, expected: int) -> None:
        self.arrived.clear()
        self.count = 0
        self.expected = expected
        self.done.clear()


def receiver(sink: Sink) -> web.Application:
    """The webhook receiver: every `/hook/<n>` POST goes to `sink`."""
    app = web.Application()
    app.add_routes([web.post("/hook/{n}", sink.post)])
    return app


async def bare(origin: str, sink: Sink, jobs: int, hooks: int, concurrency: int) -> float:
    """Seconds for jobs x hooks signed POSTs from a plain aiohttp loop."""
    secret = new_secret()
    sink.reset(jobs * hooks)
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for j in range(jobs):
        for h in range(hooks):
            queue.put_nowait((h, f"bare{j}"))

    async def one(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            h, job_id = queue.get_nowait()
            body = msgspec.json.encode({"type": "job.completed", "data": {"job_id": job_id}})
            headers = headers_for(secret, f"msg_{job_id}_{h}", body)
            async with session.post(f"{origin}/hook/{h}", data=body, headers=headers) as r:
                assert r.status == 204

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session) for _ in range(concurrency)))
    return time.perf_counter() - start


async def delivered(
    store: EventStore, origin: str, sink: Sink, jobs: int, hooks: int, concurrency: int,
    webhooks: WebhookStore,
) -> tuple[float, list[float]]:  # fmt: skip
    """Seconds until every delivery arrived, and each job's append-to-arrival latency (ms)."""
    user = "bench-user"
    for h in range(hooks):
        hook = Webhook(
            id=f"wh_{h}", user_id=user, url=f"{origin}/hook/{h}", events=["job.completed"],
            secret=new_secret(), created_at=now_ms(), from_seq=await store.last_seq(),
        )  # fmt: skip
        await webhooks.add(hook)
    ids = [new_id() for _ in range(jobs)]
    for job_id in ids:
        env = {"event_id": new_id(), "job_id": job_id, "at": now_ms(), "actor": "bench"}
        await store.append([JobCreated(**env, user_id=user, type=10, priority=1)], expected=0)
    sink.reset(jobs * hooks)
    appended: dict[str, float] = {}
    start = time.perf_counter()
    for job_id in ids:
        env = {"event_id": new_id(), "job_id": job_id, "at": now_ms(), "actor": "bench"}
        appended[job_id] = time.perf_counter()
        await store.append_unchecked(JobSucceeded(**env))
    await asyncio.wait_for(sink.done.wait(), timeout=300)
    elapsed = time.perf_counter() - start
    latencies = sorted((sink.arrived[j] - appended[j]) * 1000 for j in ids)
    return elapsed, latencies


async def main(args: argparse.Namespace) -> None:
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            embedded_nats(Path(tmp) / "nats", free_port(), default_conf()) as url,
            serve_app(receiver(sink), access_log=None) as origin,
        ):
            nc = await wait_for_jetstream(url)
            store = EventStore(nc, Codec())
            await store.ensure()
            webhooks = await WebhookStore.open(nc.jetstream())
            log = DeliveryLog(nc)
            await log.ensure()
            settings = DeliverySettings(allow_private=True, concurrency=args.concurrency)
            deliverer = Deliverer(nc, store, webhooks, log, settings)
            await deliverer.start()
            await deliverer.ensure_consumer()  # as the API does before a webhook's from_seq
            try:
                n = args.jobs * args.hooks
                raw = await bare(origin, sink, args.jobs, args.hooks, args.concurrency)
                took, lat = await delivered(
                    store, origin, sink, args.jobs, args.hooks, args.concurrency, webhooks
                )
            finally:
                await deliverer.stop()
                await nc.close()
    print(f"bare aiohttp POSTs: {n / raw:.0f}/s")
    print(
        f"webhook deliveries: {n / took:.0f}/s  ratio {raw / took:.2f}  "
        f"append->arrival p50 {percentile(lat, 50):.1f} ms  p99 {percentile(lat, 99):.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--hooks", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    asyncio.run(main(parser.parse_args()))
