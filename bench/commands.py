"""Command throughput: the raw JetStream publish ceiling vs job creations through the API.

    .venv/bin/python bench/commands.py [--concurrency 32] [--n 3000] [--profile]

One run, one fresh nats-server started with the project's nats.conf:

(a) raw: C asyncio tasks each awaiting `js.publish` of a real ~420-byte `created` event on
    `jobs.<ulid>.created` (into the JOBS stream, as the store configures it), N in all;
    once bare and once with the headers `EventStore.append` sends for a create.
(b) api: `jobstream api --workers 0` in its own process against that server, and C
    keep-alive aiohttp clients POSTing /api/job/create/scrape (one URL) as the admin;
    creations/s and latency percentiles. The API runs its dispatcher (no workers): its
    backlog (the durable consumer's num_pending + num_ack_pending) as the last create is
    answered, and how long it then takes to reach 0, are reported, as the webhooks'.
    Each create returns once its event is in the log; the creator's reads wait for the read
    model (read-your-writes).

`--profile` serves the API from bench/_profiled_api.py instead (same app and config,
under cProfile, step timers) and writes bench/profile-commands.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import msgspec
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from bench._support import (
    ApiProcess,
    api_process,
    child_pid,
    cpu_seconds,
    free_port,
    percentile,
    wait_for_file,
)
from engine.domain.commands import CreateJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope
from engine.domain.events import Codec, subject_of
from engine.domain.model import JobType
from engine.jetstream.embedded import default_conf, embedded_nats
from engine.jetstream.store import JOBS_STREAM, EventStore, wait_for_jetstream
from engine.service import new_id

PROFILE_OUT = Path(__file__).resolve().with_name("profile-commands.txt")
CREATE_PATH = "/api/job/create/scrape"
URL = "https://example.com/novel/some-novel/chapter-0001"
PARAMS = {"urls": [URL], "formats": ["markdown", "links"]}
Message = tuple[str, bytes, dict[str, str] | None]


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # process -> % of one core
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        ordered = sorted(self.latencies)
        p50, p99 = 1000 * percentile(ordered, 50), 1000 * percentile(ordered, 99)
        cpu = ", ".join(f"{k} {v:.0f}%" for k, v in self.cpu.items())
        text = f"{self.name:<30} {self.rate:>7.0f}/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
        text += f"   cpu/core: {cpu}" if cpu else ""
        text += "".join(f"\n{'':<32}{note}" for note in self.notes)
        return text + (f"\n{'':<32}ERRORS {self.errors}: {self.first_error}" if self.errors else "")


class CpuMeter:
    """CPU used by this process and the named child processes over a measured window."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}

    def _now(self) -> dict[str, float | None]:
        now: dict[str, float | None] = {"bench": time.process_time()}
        return now | {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    @contextlib.contextmanager
    def measure(self, result: Result) -> Iterator[None]:
        before, t0 = self._now(), time.perf_counter()
        yield
        wall, after = time.perf_counter() - t0, self._now()
        for name, start in before.items():
            end = after[name]
            if start is not None and end is not None and wall > 0:
                result.cpu[name] = 100 * (end - start) / wall


async def drive(
    n: int, concurrency: int, one: Callable[[int], Awaitable[str | None]], result: Result
) -> None:
    """Run `one(i)` for i in 0..n-1 from `concurrency` tasks; None means success."""
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            t0 = time.perf_counter()
            error = await one(i)
            if error is None:
                result.latencies.append(time.perf_counter() - t0)
            else:
                result.errors += 1
                result.first_error = result.first_error or error

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for _ in range(concurrency):
            tg.create_task(worker())
    result.seconds = time.perf_counter() - t0


def created_events(count: int, with_headers: bool) -> list[Message]:
    """`count` real `created` events of distinct new jobs, as the store would publish them."""
    codec, user, out = Codec(), new_id(), []
    for _ in range(count):
        cmd = CreateJob(
            **command_envelope(new_id(), user), user_id=user, type=int(JobType.SCRAPE),
            priority=1, params=PARAMS, title=URL,
        )  # fmt: skip
        event = decide(None, cmd)[0]
        headers = None
        if with_headers:  # what EventStore.append(events, expected=0) sends
            headers = {
                "Nats-Msg-Id": event.event_id,
                "Nats-Expected-Last-Subject-Sequence": "0",
                "Nats-Expected-Last-Subject-Sequence-Subject": f"jobs.{event.job_id}.*",
            }
        out.append((subject_of(event), codec.encode(event), headers))
    return out


async def bench_raw(
    nc: NATS, args: argparse.Namespace, meter: CpuMeter, name: str, with_headers: bool
) -> Result:
    js = nc.jetstream()
    messages = created_events(args.warmup + args.n, with_headers)

    async def publish(i: int) -> str | None:
        subject, payload, headers = messages[i]
        await js.publish(subject, payload, headers=headers)
        return None

    await drive(args.warmup, args.concurrency, publish, Result("warm-up"))
    del messages[: args.warmup]
    result = Result(name)
    with meter.measure(result):
        await drive(args.n, args.concurrency, publish, result)
    return result


async def bench_api(api: ApiProcess, args: argparse.Namespace, meter: CpuMeter) -> Result:
    url = api.base + CREATE_PATH
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    body = msgspec.json.encode({"urls": [URL]})
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def create(_: int) -> str | None:
            async with session.post(url, data=body, headers=headers) as resp:
                text = await resp.read()
                return None if resp.status == 201 else f"HTTP {resp.status} {text[:200]!r}"

        warm = Result("warm-up")
        await drive(args.warmup, args.concurrency, create, warm)
        if args.warmup and not warm.latencies:
            raise RuntimeError(f"API warm-up failed: {warm.first_error}")
        result = Result("api creates (HTTP)" + (" [profiled]" if args.profile else ""))
        if args.profile:
            os.kill(api.proc.pid, signal.SIGUSR1)
        try:
            with meter.measure(result):
                await drive(args.n, args.concurrency, create, result)
        finally:
            if args.profile:
                os.kill(api.proc.pid, signal.SIGUSR2)
    return result


async def run(args: argparse.Namespace, root: Path) -> list[Result]:
    """Everything against one fresh nats-server, which is stopped (also on Ctrl-C)."""
    async with embedded_nats(root / "nats", free_port(), default_conf()) as url:
        nc = await wait_for_jetstream(url)
        try:
            return await run_phases(args, root, url, nc)
        finally:
            await nc.close()


async def run_phases(args: argparse.Namespace, root: Path, url: str, nc: NATS) -> list[Result]:
    """raw, raw + headers, the API on a fresh log, raw again (to see the machine drift)."""
    js = nc.jetstream()
    meter = CpuMeter({"nats": child_pid("nats-server")})
    await EventStore(nc, Codec()).ensure()
    raw = await bench_raw(nc, args, meter, "raw js.publish", with_headers=False)
    raw_h = await bench_raw(nc, args, meter, "raw js.publish + store headers", True)
    # The API starts on an empty log: its projector and dispatcher must not chew on (a).
    await js.delete_stream(JOBS_STREAM)
    created = await bench_api_process(args, root, url, js)
    await js.delete_stream(JOBS_STREAM)
    await EventStore(nc, Codec()).ensure()
    raw_after = await bench_raw(nc, args, meter, "raw js.publish (again)", with_headers=False)
    results = [raw, raw_h, created, raw_after]
    if args.profile:
        write_profile(root / "profile.txt", args, results)
    return results


async def bench_api_process(
    args: argparse.Namespace, root: Path, url: str, js: JetStreamContext
) -> Result:
    profile_out = root / "profile.txt" if args.profile else None
    async with api_process(url, root / "data", profile_out=profile_out) as api:
        meter = CpuMeter({"api": api.proc.pid, "nats": child_pid("nats-server")})
        created = await bench_api(api, args, meter)
        if created.rate and "api" in created.cpu:  # steadier than the rate on a busy machine
            per_create = 10_000 * created.cpu["api"] / created.rate
            created.notes.append(f"API process CPU per create: {per_create:.0f} µs")
        created.notes += await backlog_notes(js)
        if profile_out is not None and not await wait_for_file(profile_out):
            created.notes.append("no profile report from the API")
    if api.killed:
        created.notes.append(f"API ignored SIGTERM for {api.stop_seconds:.0f}s: killed")
    elif api.stop_seconds > 2:
        created.notes.append(f"API took {api.stop_seconds:.1f}s to stop")
    return created


async def backlog_notes(js: JetStreamContext, limit_s: float = 10.0) -> list[str]:
    """Each durable consumer's backlog as the last create was answered, and how long it
    took to reach 0 from then (polled every ms, given up after `limit_s`)."""
    t0 = time.perf_counter()
    at_end = await backlog(js)
    drained: dict[str, float] = {}
    while len(drained) < len(at_end) and time.perf_counter() - t0 < limit_s:
        for name, n in (await backlog(js)).items():
            if n == 0 and name not in drained:
                drained[name] = time.perf_counter() - t0
        await asyncio.sleep(0.001)
    return [
        f"{name}: {n} events to handle at the last answer; "
        + (f"0 after {1000 * drained[name]:.0f} ms" if name in drained else f"not 0 in {limit_s}s")
        for name, n in at_end.items()
    ]


async def backlog(js: JetStreamContext) -> dict[str, int]:
    """Events the durable consumers of JOBS (e.g. the dispatcher) have yet to handle."""
    infos = await js.consumers_info(JOBS_STREAM)
    return {
        i.config.durable_name: int(i.num_pending or 0) + int(i.num_ack_pending or 0)
        for i in infos
        if i.config.durable_name
    }


def write_profile(server_report: Path, args: argparse.Namespace, results: list[Result]) -> None:
    header = [f"bench/commands.py --profile  n={args.n} concurrency={args.concurrency}"]
    header += [r.line() for r in results]
    body = server_report.read_text() if server_report.exists() else "(no report from server)\n"
    PROFILE_OUT.write_text("\n".join(header) + "\n\n" + body)


def report(args: argparse.Namespace, results: list[Result]) -> None:
    raw, _, api, raw_after = results
    print(f"n={args.n} concurrency={args.concurrency} warm-up={args.warmup} cpus={os.cpu_count()}")
    print(f"nats.conf: {default_conf()}")
    for r in results:
        print(r.line())
    ceiling = (raw.rate + raw_after.rate) / 2
    if min(raw.rate, raw_after.rate) < 0.75 * max(raw.rate, raw_after.rate):
        print("note: the raw rate moved a lot between its two runs (fsync latency of a shared")
        print("      disk?); the ratio uses their mean: run again for a steadier number")
    ratio = api.rate / ceiling if ceiling else 0.0
    print(f"raw js.publish: {ceiling:.0f}/s  api creates: {api.rate:.0f}/s  ratio {ratio:.2f}")
    if args.profile:
        print(f"profile (API process, profiled so slower): {PROFILE_OUT}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Raw JetStream publish rate vs API job creations.")
    p.add_argument("--concurrency", "-c", type=int, default=32, help="concurrent clients")
    p.add_argument("--n", type=int, default=3000, help="measured operations per phase")
    p.add_argument("--warmup", type=int, default=300, help="unmeasured operations first")
    p.add_argument("--profile", action="store_true", help=f"profile the API into {PROFILE_OUT}")
    p.add_argument("--keep", type=Path, help="use this directory for data and keep it")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.keep is not None:
            results = asyncio.run(run(args, args.keep.resolve()))
        else:
            with tempfile.TemporaryDirectory(prefix="jobstream-bench-") as tmp:
                results = asyncio.run(run(args, Path(tmp)))
    except KeyboardInterrupt:
        print("interrupted; stopped the API and nats-server", file=sys.stderr)
        return 130
    report(args, results)
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
