"""SSE fan-out: latency from an event's append to its arrival at N clients of one job stream.

For each N (default 100, 1,000, 5,000) the benchmark starts one `jobstream api` process
against a fresh nats-server, creates a job no worker will take, opens N streams on it from
a client process, then appends `--events` log events to the job at a steady rate, each
carrying the time just before its append. It reports p50/p99 latency over every
(client, event) pair, the API process's resident memory per client, and the CPU seconds per
delivery (clients x events) of the API process and of the clients' process, which shares the
machine's cores with it. In the same run, a core NATS subscription on the job's subjects
measures the raw latency of the same appends: the floor any fan-out over NATS starts from.

    .venv/bin/python bench/sse.py [--clients 100,1000,5000] [--events 50] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (
    ApiProcess,
    api_process,
    cpu_seconds,
    free_port,
    percentile,
    wait_for_file,
)
from engine.domain.envelope import event_envelope
from engine.domain.events import Codec, LogWritten
from engine.jetstream.embedded import default_conf, embedded_nats
from engine.jetstream.store import EventStore, wait_for_jetstream

CLIENTS = Path(__file__).resolve().with_name("_sse_clients.py")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def create_job(api: ApiProcess) -> str:
    headers = {"Authorization": f"Bearer {api.token}"}
    body = {"urls": ["https://example.invalid/never-fetched"]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(api.base + "/api/job/create/scrape", json=body, headers=headers) as resp,
    ):
        job = await resp.json()
        assert resp.status == 201, job
        return str(job["id"])


class CoreProbe:
    """A core NATS subscription on the job's log lines: the raw latency floor."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []

    async def on_msg(self, msg: Msg) -> None:
        now = time.time_ns()
        marker = msg.data.split(b'"message":"bench ', 1)
        if len(marker) == 2:
            self.latencies_ms.append((now - int(marker[1].split(b'"', 1)[0])) / 1e6)


async def append_events(nc: NATS, job_id: str, count: int, rate: float) -> None:
    """Append `count` log events at `rate` per second, each stamped just before its append."""
    store = EventStore(nc, Codec())
    interval = 1.0 / rate
    start = time.perf_counter()
    for i in range(count):
        event = LogWritten(
            **event_envelope(job_id, "bench"), message=f"bench {time.time_ns()}",
        )  # fmt: skip
        await store.append_unchecked(event)
        delay = start + (i + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def one_size(nc: NATS, api: ApiProcess, n: int, args: argparse.Namespace) -> dict[str, float]:
    job_id = await create_job(api)
    port = int(api.base.rsplit(":", 1)[1])
    rss_before = rss_kib(api.proc.pid)
    clients = await asyncio.create_subprocess_exec(
        sys.executable, str(CLIENTS), "--n", str(n), "--events", str(args.events),
        "--port", str(port), "--path", f"/api/job/{job_id}/stream", "--token", api.token,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert clients.stdout is not None
    line = await asyncio.wait_for(clients.stdout.readline(), 300)
    if line.strip() != b"ready":
        raise RuntimeError(f"clients did not connect: {line!r}")
    rss_after = rss_kib(api.proc.pid)
    probe = CoreProbe()
    sub = await nc.subscribe(f"jobs.{job_id}.log", cb=probe.on_msg)
    if args.profile:
        api.proc.send_signal(signal.SIGUSR1)
    cpu_before = cpu_seconds(api.proc.pid) or 0.0
    await append_events(nc, job_id, args.events, args.rate)
    result = json.loads(await asyncio.wait_for(clients.stdout.readline(), 300))
    api_cpu = (cpu_seconds(api.proc.pid) or 0.0) - cpu_before
    clients_cpu = float(result["cpu_s"])  # its own count: it may have exited already
    if args.profile:
        api.proc.send_signal(signal.SIGUSR2)
    await clients.wait()
    await sub.unsubscribe()
    core = sorted(probe.latencies_ms)
    return {
        "clients": n, "deliveries": result["count"],
        "sse_p50": result["p50"], "sse_p99": result["p99"],
        "core_p50": percentile(core, 50), "core_p99": percentile(core, 99),
        "kib_per_client": (rss_after - rss_before) / n,
        "api_us_per_delivery": 1e6 * api_cpu / max(1, result["count"]),
        "clients_us_per_delivery": 1e6 * clients_cpu / max(1, result["count"]),
    }  # fmt: skip


async def run(args: argparse.Namespace) -> list[dict[str, float]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-sse-") as tmp:
        root = Path(tmp)
        async with embedded_nats(root / "nats", free_port(), default_conf()) as url:
            nc = await wait_for_jetstream(url)
            try:
                out = root / "profile.txt" if args.profile else None
                async with api_process(url, root / "data", profile_out=out) as api:
                    for n in args.clients:
                        results.append(await one_size(nc, api, n, args))
                        print(line_of(results[-1]), flush=True)
                    if out is not None and await wait_for_file(out):
                        Path(args.profile).write_text(out.read_text())
            finally:
                await nc.close()
    return results


def line_of(r: dict[str, float]) -> str:
    return (
        f"{int(r['clients']):>6} clients  {int(r['deliveries']):>7} deliveries  "
        f"SSE p50 {r['sse_p50']:6.1f} ms  p99 {r['sse_p99']:6.1f} ms  |  "
        f"core NATS p50 {r['core_p50']:5.2f} ms  p99 {r['core_p99']:5.2f} ms  |  "
        f"p99 ratio {r['sse_p99'] / max(r['core_p99'], 1e-3):6.1f}x  |  "
        f"{r['kib_per_client']:5.1f} KiB/client  |  "
        f"CPU per delivery: API {r['api_us_per_delivery']:5.1f} µs, "
        f"clients {r['clients_us_per_delivery']:5.1f} µs"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="100,1000,5000")
    p.add_argument("--events", type=int, default=50)
    p.add_argument("--rate", type=float, default=20.0, help="appends per second")
    p.add_argument("--profile", metavar="FILE", help="profile the API process into FILE")
    args = p.parse_args()
    args.clients = [int(x) for x in args.clients.split(",")]
    print(f"SSE fan-out: {args.events} events at {args.rate:g}/s to N clients of one job")
    results = asyncio.run(run(args))
    at_1000 = [r for r in results if r["clients"] == 1000]
    if at_1000:
        verdict = "met" if at_1000[0]["sse_p99"] < 50 else "NOT met"
        print(f"goal p99 < 50 ms at 1,000 clients: {verdict} ({at_1000[0]['sse_p99']:.1f} ms)")


if __name__ == "__main__":
    main()
