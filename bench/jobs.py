"""Many small jobs: N one-URL SCRAPE jobs through jobstream vs the same fetches through arq.

    .venv/bin/python bench/jobs.py [--n 2000] [--clients 32] [--slots 16] [--warmup 100]
        [--sample 100] [--redis-fsync] [--nats-conf FILE] [--timeout 300]

One local page (`/page/1` of the generated site, bench/_site.py, in a process of its own).
Each side gets `--warmup` jobs first (not counted), then N, created by `--clients`
concurrent clients; the clock runs from the first create until every job is done:

(1) jobstream: a fresh nats-server (the project's nats.conf, `sync_interval: always`),
    `jobstream api` and one `jobstream worker --concurrency {slots}` process. A job is
    `POST /api/job/create/scrape {"urls": [page]}` (one SCRAPE job); done when
    `GET /api/jobs?is_done=false&limit=1` counts none. Then the breakdown of `--sample`
    jobs (evenly spread over the N) from their events' times (`GET /api/job/{id}/events`):
    queue wait (created -> started), run (started -> page recorded), finish (page ->
    succeeded) and visible (succeeded -> the bench sees it in the read model's audit log,
    `GET /api/events?kind=succeeded`, polled every VISIBLE_POLL_S: that much coarser).
(2) arq: a `redis-server` started here on a free loopback port in a temporary directory
    (no persistence unless `--redis-fsync`: appendonly with appendfsync always), an arq
    worker in its own process (bench/_arq_worker.py: `max_jobs` {slots}, `poll_delay`
    0.005 s) running the worker's own `fetch_page` on the same page; a job is
    `enqueue_job("scrape", page)`; done when Redis holds every job's result.

Each side then runs a second round, "queued first": its worker process is stopped
(SIGSTOP), N jobs are created and queued (jobstream: until the WORK stream holds them all,
so the dispatcher has made every work item), and the clock runs from the worker's SIGCONT
until every job is done: what the worker alone takes, without the create path.

Prints jobs/s of both, the CPU each process used, the ratios (goal: jobstream >= 1.0x arq)
and the end-to-end breakdown (median and p90 of each step, ms). Exit status 2 when
`redis-server` is not installed, 1 when a job failed or the run timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
from arq.connections import ArqRedis, RedisSettings, create_pool
from nats.aio.client import Client as NATS

from bench._support import (
    api_process,
    child_pid,
    cpu_seconds,
    free_port,
    jobstream_cli,
    percentile,
    tail,
    wait_worker_polling,
)
from bench.crawl import Site, child, site_process
from engine.jetstream.embedded import default_conf, embedded_nats
from engine.jetstream.store import wait_for_jetstream
from engine.jetstream.work import WORK_STREAM

ARQ_WORKER = Path(__file__).resolve().with_name("_arq_worker.py")
PAGE = "/page/1"
DONE_POLL_S = 0.01
VISIBLE_POLL_S = 0.01
STEPS = ("queue wait", "run", "finish", "visible")


@dataclass
class Side:
    """One engine's measured run."""

    name: str
    n: int = 0
    seconds: float = 0.0
    failed: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds in the run
    steps: dict[str, list[float]] = field(default_factory=dict)  # step -> ms per sampled job

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0


async def drive(n: int, clients: int, one: Callable[[int], Awaitable[None]]) -> None:
    """`one(i)` for i in 0..n-1, from `clients` concurrent tasks."""
    counter = itertools.count()

    async def client() -> None:
        while (i := next(counter)) < n:
            await one(i)

    async with asyncio.TaskGroup() as tg:
        for _ in range(clients):
            tg.create_task(client())


async def until(done: Callable[[], Awaitable[bool]], timeout: float, poll_s: float) -> None:
    """Poll `done()` every `poll_s` until it says yes (TimeoutError after `timeout` s)."""
    async with asyncio.timeout(timeout):
        while True:
            if await done():
                return
            await asyncio.sleep(poll_s)


def cpu_now(pids: Mapping[str, int | None]) -> dict[str, float]:
    return {name: cpu_seconds(pid) or 0.0 for name, pid in pids.items() if pid}


async def timed(
    side: Side, pids: Mapping[str, int | None], run: Callable[[], Awaitable[None]]
) -> None:
    """Run `run()`, booking its wall time and the CPU each of `pids` used into `side`, and
    this process's as "bench" (the clients, and the polls that see the jobs done)."""
    before, t0, own = cpu_now(pids), time.perf_counter(), time.process_time()
    await run()
    side.seconds = time.perf_counter() - t0
    after = cpu_now(pids)
    side.cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    side.cpu["bench"] = time.process_time() - own


# -- (1) jobstream ------------------------------------------------------------------------


class Visible:
    """When each job's `succeeded` shows in the read model, polled from the audit log."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http, self.seen, self._next = http, dict[str, float](), 0

    async def follow(self) -> None:
        while True:
            params = {"kind": "succeeded", "from_seq": str(self._next), "limit": "1000"}
            async with self.http.get("/api/events", params=params) as resp:
                page = await resp.json()
            now = time.time() * 1000
            for item in page["items"]:
                self.seen.setdefault(item["job_id"], now)
            self._next = page["next_seq"]
            if not page["has_more"]:
                await asyncio.sleep(VISIBLE_POLL_S)


async def create_scrapes(http: aiohttp.ClientSession, url: str, n: int, clients: int) -> list[str]:
    ids: list[str] = [""] * n

    async def one(i: int) -> None:
        async with http.post("/api/job/create/scrape", json={"urls": [url]}) as resp:
            body = await resp.json()
            if resp.status != 201:
                raise RuntimeError(f"create: HTTP {resp.status}: {body}")
            ids[i] = body["id"]

    await drive(n, clients, one)
    return ids


async def none_left(http: aiohttp.ClientSession) -> bool:
    async with http.get("/api/jobs", params={"is_done": "false", "limit": 1}) as resp:
        return int((await resp.json())["total"]) == 0


async def jobstream_batch(http: aiohttp.ClientSession, url: str, n: int, args: Any) -> list[str]:
    ids = await create_scrapes(http, url, n, args.clients)
    await until(lambda: none_left(http), args.timeout, DONE_POLL_S)
    return ids


async def breakdown(http: aiohttp.ClientSession, ids: list[str], seen: dict[str, float]) -> dict[
    str, list[float]
]:  # fmt: skip
    """Step -> ms, one per sampled job that has each step's two ends."""
    steps: dict[str, list[float]] = {s: [] for s in STEPS}
    for job_id in ids:
        async with http.get(f"/api/job/{job_id}/events", params={"limit": 100}) as resp:
            at = {e["kind"]: e["time"] for e in (await resp.json())["items"]}
        ends = [at.get("created"), at.get("started"), at.get("page"), at.get("succeeded")]
        ends.append(seen.get(job_id))
        for step, (a, b) in zip(STEPS, itertools.pairwise(ends), strict=True):
            if a is not None and b is not None:
                steps[step].append(b - a)
    return steps


async def failed_jobs(http: aiohttp.ClientSession) -> int:
    async with http.get("/api/jobs", params={"status": 3, "limit": 1}) as resp:
        return int((await resp.json())["total"])


@dataclass
class Stack:
    """A running jobstream: its API's base URL and admin token, NATS URL and processes."""

    base: str
    token: str
    nats_url: str
    pids: dict[str, int | None]


@contextlib.asynccontextmanager
async def jobstream_stack(args: Any, work: Path) -> AsyncIterator[Stack]:
    """nats-server, `jobstream api` and one `jobstream worker --concurrency {slots}`."""
    data = work / "jobstream"
    async with contextlib.AsyncExitStack() as stack:
        conf = args.nats_conf or default_conf()
        nats_url = await stack.enter_async_context(embedded_nats(data / "nats", free_port(), conf))
        await (await wait_for_jetstream(nats_url)).close()
        env = {"JOBSTREAM_ALLOW_PRIVATE": "1"}
        options = ["--allow-private-networks"]
        api = await stack.enter_async_context(
            api_process(nats_url, data, options=options, env=env, grace=15.0)
        )
        argv = [*jobstream_cli(), "worker", "--concurrency", str(args.slots), *options]
        log = data / "worker.log"
        worker = await stack.enter_async_context(
            child(argv, log, {**os.environ, "NATS_URL": nats_url, **env})
        )
        await wait_worker_polling(nats_url, worker, log)
        pids = {"api": api.proc.pid, "worker": worker.pid, "nats-server": child_pid("nats-server")}
        yield Stack(api.base, api.token, nats_url, pids)


async def end_to_end(http: aiohttp.ClientSession, js: Stack, url: str, args: Any) -> Side:
    """N jobs created while the worker runs, timed until done; with the breakdown."""
    side = Side("jobstream", n=args.n)
    visible = Visible(http)
    follower = asyncio.create_task(visible.follow())
    ids: list[str] = []

    async def measured() -> None:
        ids.extend(await jobstream_batch(http, url, args.n, args))

    try:
        await timed(side, js.pids, measured)
        await until(lambda: _all_seen(visible, ids), 10.0, VISIBLE_POLL_S)
    finally:
        follower.cancel()
    step = max(1, len(ids) // max(1, args.sample))
    side.steps = await breakdown(http, ids[::step], visible.seen)
    return side


async def queued_first(http: aiohttp.ClientSession, js: Stack, url: str, args: Any) -> Side:
    """N jobs created and queued while the worker is stopped (SIGSTOP), timed from its
    SIGCONT until done: what the worker alone takes."""
    side = Side("jobstream", n=args.n)
    nc = await wait_for_jetstream(js.nats_url)
    try:
        with stopped(js.pids["worker"]):
            await create_scrapes(http, url, args.n, args.clients)
            await until(lambda: _queued(nc, args.n), args.timeout, 0.05)
        await timed(side, js.pids, lambda: until(lambda: none_left(http), args.timeout, 0.005))
    finally:
        await nc.close()
    return side


@contextlib.contextmanager
def stopped(pid: int | None) -> Iterator[None]:
    """Process `pid` stopped (SIGSTOP) inside the block, continued (SIGCONT) after it."""
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def _queued(nc: NATS, n: int) -> bool:
    """Whether `n` work items are queued (the WORK stream keeps an item until it is acked)."""
    info = await nc.jetstream().stream_info(WORK_STREAM)
    return int(info.state.messages) >= n


async def run_jobstream(args: Any, site: Site, work: Path) -> tuple[Side, Side]:
    """(end to end, queued first)."""
    url = site.origin + PAGE
    async with jobstream_stack(args, work) as js:
        js.pids["site"] = site.pid
        headers = {"Authorization": f"Bearer {js.token}"}
        async with aiohttp.ClientSession(js.base, headers=headers) as http:
            await jobstream_batch(http, url, args.warmup, args)
            e2e = await end_to_end(http, js, url, args)
            alone = await queued_first(http, js, url, args)
            e2e.failed = await failed_jobs(http)
    return e2e, alone


async def _all_seen(visible: Visible, ids: list[str]) -> bool:
    return all(i in visible.seen for i in ids)


# -- (2) arq ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_server(work: Path, fsync: bool) -> AsyncIterator[tuple[int, int]]:
    """A redis-server on a free loopback port, its data in `work`: (port, pid)."""
    exe = shutil.which("redis-server")
    assert exe is not None
    port, data = free_port(), work / "redis"
    data.mkdir()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""]
    argv += ["--appendonly", "yes", "--appendfsync", "always"] if fsync else ["--appendonly", "no"]
    async with child(argv, data / "redis.log") as proc:
        await until(lambda: _listens(port), 30.0, 0.05)
        yield port, proc.pid


async def _listens(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def results_in(pool: ArqRedis) -> int:
    count = pool.eval("return #redis.call('keys', 'arq:result:*')", 0)
    return int(await cast(Awaitable[int], count))


async def enqueue(pool: ArqRedis, url: str, n: int, clients: int) -> int:
    """Enqueue `n` scrapes; how many results Redis holds when they are all in."""
    start = await results_in(pool)

    async def one(_: int) -> None:
        if await pool.enqueue_job("scrape", url) is None:
            raise RuntimeError("arq did not enqueue a job")

    await drive(n, clients, one)
    return start + n


async def all_in(pool: ArqRedis, results: int, args: Any, poll_s: float = DONE_POLL_S) -> None:
    async def done() -> bool:
        return await results_in(pool) >= results

    await until(done, args.timeout, poll_s)


async def arq_batch(pool: ArqRedis, url: str, n: int, args: Any) -> None:
    await all_in(pool, await enqueue(pool, url, n, args.clients), args)


@contextlib.asynccontextmanager
async def arq_worker(port: int, args: Any, work: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    argv = [sys.executable, str(ARQ_WORKER), "--redis-port", str(port)]
    argv += ["--max-jobs", str(args.slots), "--poll-delay", "0.005"]
    log = work / "arq-worker.log"
    async with child(argv, log, pipe=True) as worker:
        assert worker.stdout is not None
        if (await asyncio.wait_for(worker.stdout.readline(), 30)).strip() != b"ready":
            raise RuntimeError(f"arq worker did not start:\n{tail(log)}")
        yield worker


async def run_arq(args: Any, site: Site, work: Path) -> tuple[Side, Side]:
    """(end to end, queued first), as run_jobstream."""
    e2e, alone = Side("arq", n=args.n), Side("arq", n=args.n)
    url = site.origin + PAGE
    async with (
        redis_server(work, args.redis_fsync) as (port, redis_pid),
        arq_worker(port, args, work) as worker,
    ):
        pool = await create_pool(RedisSettings(host="127.0.0.1", port=port))
        try:
            await arq_batch(pool, url, args.warmup, args)
            pids = {"arq worker": worker.pid, "redis-server": redis_pid, "site": site.pid}
            await timed(e2e, pids, lambda: arq_batch(pool, url, args.n, args))
            with stopped(worker.pid):
                results = await enqueue(pool, url, args.n, args.clients)
            await timed(alone, pids, lambda: all_in(pool, results, args, 0.005))
        finally:
            await pool.aclose()
    return e2e, alone


# -- report -------------------------------------------------------------------------------


def _row(side: Side) -> str:
    cpu = ", ".join(f"{k} {100 * v / side.seconds:.0f}%" for k, v in sorted(side.cpu.items()))
    failed = f"  FAILED {side.failed}" if side.failed else ""
    per_job = 1000 * sum(side.cpu.values()) / side.n if side.n else 0.0
    return (
        f"  {side.name:<10} {side.n:>6} jobs in {side.seconds:6.2f}s = {side.rate:6.0f} jobs/s"
        f"   cpu/core: {cpu}; {per_job:.2f} ms of CPU a job{failed}"
    )


def _ratio(what: str, js: Side, arq: Side) -> str:
    ratio = js.rate / arq.rate if arq.rate else 0.0
    return (
        f"{what}: jobstream {js.rate:.0f} jobs/s  arq {arq.rate:.0f} jobs/s  ratio {ratio:.2f}x"
        f" (goal >= 1.0x: {'met' if ratio >= 1.0 else 'NOT met'})"
    )


def report(args: Any, js: tuple[Side, Side], arq: tuple[Side, Side]) -> str:
    lines = [f"n={args.n} clients={args.clients} slots={args.slots} warm-up={args.warmup}"]
    lines += ["end to end (created while the worker runs):", _row(js[0]), _row(arq[0])]
    lines += ["queued first (the worker alone, from SIGCONT):", _row(js[1]), _row(arq[1])]
    lines += ["", _ratio("end to end", js[0], arq[0]), _ratio("queued first", js[1], arq[1])]
    steps = js[0].steps
    sampled = max((len(v) for v in steps.values()), default=0)
    lines.append(f"jobstream end to end, per job, {sampled} sampled jobs (ms):  median     p90")
    for step in STEPS:
        ms = sorted(steps.get(step, []))
        med = statistics.median(ms) if ms else 0.0
        lines.append(f"  {step:<12}{'':36}{med:8.1f} {percentile(ms, 90):7.1f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="measured jobs per side")
    p.add_argument("--clients", type=int, default=32, help="concurrent creating clients")
    p.add_argument("--slots", type=int, default=16, help="jobs a worker runs at once")
    p.add_argument("--warmup", type=int, default=100, help="jobs first, not counted")
    p.add_argument("--sample", type=int, default=100, help="jobs whose breakdown is read")
    p.add_argument("--redis-fsync", action="store_true", help="Redis: appendfsync always")
    p.add_argument("--nats-conf", type=Path, default=None, help="nats-server config to use")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per side")
    args = p.parse_args(argv)
    args.pages, args.seed, args.crawl_delay = 100, 0, None  # what site_process reads
    return args


async def amain(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="jobstream-bench-jobs-") as tmp:
        work = Path(tmp)
        async with site_process(args, work) as site:
            arq = await run_arq(args, site, work)
            print(f"arq: {arq[0].rate:.0f} jobs/s, queued first {arq[1].rate:.0f}", flush=True)
            js = await run_jobstream(args, site, work)
    print(report(args, js, arq))
    return 1 if js[0].failed else 0


def main() -> int:
    if shutil.which("redis-server") is None:
        print("redis-server not found: apt-get install redis-server", file=sys.stderr)
        return 2
    try:
        return asyncio.run(amain(parse_args()))
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, TimeoutError) as e:
        print(f"error: {e!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
