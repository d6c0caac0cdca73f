"""Novel throughput: a FULL_NOVEL through jobstream vs a bare aiohttp + selectolax loop.

    .venv/bin/python bench/novel.py [--chapters 1000] [--seed 7] [--format docx|none]
        [--workers 1]

One run, one generated novel of `--chapters` chapters in the NovelFull layout
(tests/sites/novelsite_pages.py, no faults: every chapter answers 200 at once; chapters whose
serial ends in 7 show two images) served on 127.0.0.1 by a process of its own (`--child
site`, no access log). Then:

(1) bare: asyncio + aiohttp fetching every chapter, parsing and cleaning it with the same
    code the worker uses (`NovelFullSource.parse_chapter`, i.e. `engine.novels.clean`) and
    fetching each image it shows, with as many requests in flight as the worker allows one
    host (`Politeness().per_host`): no storage, no log. The ceiling for this stack.
(2) jobstream: a fresh nats-server (the project's nats.conf), `jobstream api --workers 0`
    and one `jobstream worker` process (`--workers N`: N of them, each allowing the host
    `Politeness().per_host` requests at once), all with private networks allowed. One POST
    /api/job/create/fetch-novel {url, source: novelfull, full: true} as the admin: NOVEL,
    then the VOLUME_BATCH of its volumes' chapters and an epub ARTIFACT. Chapters/s count
    from the FULL_NOVEL's `created_at` to the VOLUME_BATCH's `finished_at` (the dispatch,
    the novel page and chapter list, every chapter stored in the library and recorded).
    Then POST /api/job/create/make-artifacts {novel_id, formats: [--format]}. The epub's and
    the converted format's seconds are their ARTIFACT jobs' started_at -> finished_at.
(3) bare again, to see how much the machine drifted; the ratio uses the mean of both.

Output: chapters/s of each, the ratio (goal >= 0.7x) and the artifact seconds. Everything
runs in a temporary directory (kept on failure) and every process is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench._support import (
    api_process,
    child_pid,
    cpu_seconds,
    free_port,
    jobstream_cli,
    spawn,
    tail,
    wait_worker_polling,
)
from engine.domain.batches import expansion_child_id
from engine.jetstream.embedded import default_conf, embedded_nats, stop_process
from engine.jetstream.store import wait_for_jetstream
from engine.novels.model import url_id
from engine.novels.politeness import Politeness
from engine.novels.sources.novelfull import NovelFullSource

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SLUG = "the-bench-archive"
PER_HOST = Politeness().per_host  # what a worker allows one host at once


@dataclass
class Site:
    origin: str
    pid: int


@dataclass
class Bare:
    chapters: int
    images: int
    seconds: float
    cpu: dict[str, float]  # process -> CPU seconds: the loop itself, and the site serving it

    @property
    def rate(self) -> float:
        return self.chapters / self.seconds if self.seconds else 0.0


@dataclass
class Jobstream:
    chapters: int
    failed: int
    seconds: float
    epub_s: float | None
    format_s: float | None
    format_note: str
    cpu: dict[str, float]  # process -> CPU seconds from the POST to the VOLUME_BATCH's end
    phases: str

    @property
    def rate(self) -> float:
        return self.chapters / self.seconds if self.seconds else 0.0


# -- the site ---------------------------------------------------------------------------


def site_child(args: argparse.Namespace) -> int:
    """Serve the generated novel on 127.0.0.1:`--port`; print "ready" once listening."""
    from tests.sites.novelsite import Faults, NovelSite, build_novel_app
    from tests.sites.novelsite_pages import LAYOUTS, make_novel

    none = frozenset[int]()
    faults = Faults(unavailable_once=none, rate_limited_once=none, missing=none)
    novel = make_novel(args.seed, slug=SLUG, chapters=args.chapters)
    site = NovelSite(LAYOUTS["novelfull"], {SLUG: novel}, faults)
    site.origin = f"http://127.0.0.1:{args.port}"
    web.run_app(
        build_novel_app(site), host="127.0.0.1", port=args.port, access_log=None,
        print=lambda _: print("ready", flush=True), handler_cancellation=True,
        shutdown_timeout=0.5,
    )  # fmt: skip
    return 0


@contextlib.asynccontextmanager
async def child(argv: list[str], log_path: Path, env: dict[str, str] | None = None, *,
                pipe: bool = False) -> AsyncIterator[asyncio.subprocess.Process]:  # fmt: skip
    """A child process (stderr, and stdout unless piped, to `log_path`), stopped on exit."""
    with log_path.open("ab") as log:
        proc = await spawn(argv, log, env, pipe=pipe, cwd=ROOT)
        try:
            yield proc
        finally:
            await stop_process(proc, grace=15.0)


@contextlib.asynccontextmanager
async def site_process(args: argparse.Namespace, work: Path) -> AsyncIterator[Site]:
    """The site's origin and pid, once it listens."""
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "site", "--port",
            str(port), "--chapters", str(args.chapters), "--seed", str(args.seed)]  # fmt: skip
    async with child(argv, work / "site.log", pipe=True) as proc:
        assert proc.stdout is not None
        with contextlib.suppress(TimeoutError):
            if (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready":
                yield Site(f"http://127.0.0.1:{port}", proc.pid)
                return
        raise RuntimeError(f"site did not start:\n{tail(work / 'site.log')}")


# -- (1) bare ---------------------------------------------------------------------------


async def bare(site: Site, chapters: int) -> Bare:
    """Fetch, parse and clean every chapter (and fetch its images), PER_HOST at once."""
    origin = site.origin
    source = NovelFullSource()
    gate = asyncio.Semaphore(PER_HOST)
    images = 0

    async def get(session: aiohttp.ClientSession, url: str) -> bytes:
        async with gate, session.get(url) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"bare: HTTP {resp.status} for {url}")
            return body

    async def chapter(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal images
        url = f"{origin}/{SLUG}/chapter-{n}.html"
        content = source.parse_chapter(url, (await get(session, url)).decode())
        await asyncio.gather(*(get(session, u) for u in content.image_urls))
        images += len(content.image_urls)

    t0, cpu0, site0 = time.perf_counter(), time.process_time(), _cpu(site.pid)
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(chapter(session, n) for n in range(1, chapters + 1)))
    cpu = {"loop": time.process_time() - cpu0, "site": _cpu(site.pid) - site0}
    return Bare(chapters, images, time.perf_counter() - t0, cpu)


# -- (2) jobstream ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def jobstream_stack(
    work: Path, pids: dict[str, int | None], conf: Path | None, workers: int = 1
) -> AsyncIterator[aiohttp.ClientSession]:
    """nats-server, `jobstream api --workers 0` and `workers` `jobstream worker` processes;
    a VIP's session. Their pids are put in `pids`."""
    data = work / "jobstream"
    data.mkdir()
    private = {"JOBSTREAM_ALLOW_PRIVATE": "1"}
    async with contextlib.AsyncExitStack() as stack:
        nats_url = await stack.enter_async_context(
            embedded_nats(data / "nats", free_port(), conf or default_conf())
        )
        await (await wait_for_jetstream(nats_url)).close()
        api = await stack.enter_async_context(api_process(
            nats_url, data, workers=0, options=["--allow-private-networks"], env=private,
            grace=15.0,
        ))  # fmt: skip
        env = {**os.environ, "NATS_URL": nats_url, **private}
        argv = [*jobstream_cli(), "worker", "--allow-private-networks"]
        for n in range(1, workers + 1):
            name = "worker" if workers == 1 else f"worker{n}"
            worker = await stack.enter_async_context(child(argv, data / f"{name}.log", env))
            await wait_worker_polling(nats_url, worker, data / f"{name}.log")  # takes jobs
            pids[name] = worker.pid
        pids |= {"api": api.proc.pid, "nats-server": child_pid("nats-server")}
        headers = {"Authorization": f"Bearer {await _vip_token(env)}"}
        yield await stack.enter_async_context(aiohttp.ClientSession(api.base, headers=headers))


async def _vip_token(env: dict[str, str]) -> str:
    """A VIP user's token: Calibre's formats are above the admin's basic tier."""
    proc = await asyncio.create_subprocess_exec(
        *jobstream_cli(), "user", "add", "bench", "--tier", "vip", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"user add: {err.decode()}")
    return out.decode().strip()


async def _post(http: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(path, json=body) as resp:
        job: dict[str, Any] = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"POST {path}: HTTP {resp.status}: {job}")
        return job


async def _chapters_counted(
    http: aiohttp.ClientSession, job_id: str, chapters: int, timeout: float
) -> None:
    """Wait until the FULL_NOVEL's roll-up counts every chapter done or failed: its batch is
    then ending. Polling the small parent, not the VOLUME_BATCH, whose params list every
    chapter: reading those ten times a second was a sixth of the API's CPU."""
    job: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while job.get("done", 0) + job.get("failed", 0) < chapters and not job.get("is_done"):
                await asyncio.sleep(0.1)
                async with http.get(f"/api/job/{job_id}") as resp:
                    job = await resp.json() if resp.status == 200 else {}
    except TimeoutError:
        raise RuntimeError(f"job {job_id}: chapters not counted after {timeout}s: {job}") from None


async def _done(http: aiohttp.ClientSession, job_id: str, timeout: float) -> dict[str, Any]:
    """The job once the read model shows it ended; polled every 100 ms (the times measured
    are the job's own timestamps, so the poll only needs to see the end, not time it; a
    VOLUME_BATCH's params list every chapter, and reading them often costs the API CPU)."""
    job: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while not job.get("is_done"):
                await asyncio.sleep(0.1)
                async with http.get(f"/api/job/{job_id}") as resp:
                    job = await resp.json() if resp.status == 200 else {}
    except TimeoutError:
        raise RuntimeError(f"job {job_id} not done after {timeout}s: {job}") from None
    return job


def _ran_s(job: dict[str, Any]) -> float | None:
    started, finished = job.get("started_at"), job.get("finished_at")
    return (finished - started) / 1000 if started and finished else None


async def run_jobstream(args: argparse.Namespace, site: Site, work: Path) -> Jobstream:
    url = f"{site.origin}/{SLUG}.html"
    pids: dict[str, int | None] = {}
    async with jobstream_stack(work, pids, args.nats_conf, args.workers) as http:
        pids["site"] = site.pid
        body = {"url": url, "source": "novelfull", "full": True}
        before = {name: _cpu(pid) for name, pid in pids.items()}
        created = await _post(http, "/api/job/create/fetch-novel", body)
        await _chapters_counted(http, created["id"], args.chapters, args.timeout)
        batch = await _done(http, expansion_child_id(created["id"], 0), args.timeout)
        cpu = {name: _cpu(pid) - before[name] for name, pid in pids.items()}
        job = await _done(http, created["id"], args.timeout)
        epub = await _done(http, expansion_child_id(job["id"], 1), 10)
        seconds = (batch["finished_at"] - job["created_at"]) / 1000
        fmt_s, note = await _convert(http, args, url_id(url))
    if job["status"] != 2:
        print(f"note: the FULL_NOVEL ended with status {job['status']}: {job['error']}")
    return Jobstream(batch["done"], batch["failed"], seconds, _ran_s(epub), fmt_s, note, cpu,
                     _phases(job, batch))  # fmt: skip


def _phases(job: dict[str, Any], batch: dict[str, Any]) -> str:
    """Where the seconds went: before the chapters (the dispatch, the NOVEL's novel page and
    chapter list, the expansion), and the VOLUME_BATCH's own run."""
    before = (batch["started_at"] - job["created_at"]) / 1000
    chapters = (batch["finished_at"] - batch["started_at"]) / 1000
    rate = batch["done"] / chapters if chapters else 0.0
    return (f"FULL_NOVEL created -> VOLUME_BATCH started {before:.2f}s, VOLUME_BATCH started"
            f" -> finished {chapters:.2f}s ({rate:.0f} chapters/s)")  # fmt: skip


def _cpu(pid: int | None) -> float:
    return (cpu_seconds(pid) or 0.0) if pid is not None else 0.0


async def _convert(
    http: aiohttp.ClientSession, args: argparse.Namespace, novel_id: str
) -> tuple[float | None, str]:
    """The seconds of an ARTIFACT job making `--format`, or why there are none."""
    if args.format == "none":
        return None, "not asked for"
    body = {"novel_id": novel_id, "formats": [args.format]}
    async with http.post("/api/job/create/make-artifacts", json=body) as resp:
        made = await resp.json()
        if resp.status != 201:
            return None, f"not made: HTTP {resp.status}: {made.get('detail')}"
    job = await _done(http, made["id"], args.timeout)
    if job["status"] != 2:
        return None, f"failed: {job['error']}"
    return _ran_s(job), ""


# -- the run ----------------------------------------------------------------------------


def report(args: argparse.Namespace, bares: list[Bare], js: Jobstream) -> str:
    ceiling = statistics.mean(b.rate for b in bares)
    lines = [f"{args.chapters} chapters, NovelFull layout, {PER_HOST} requests to the host at once"]
    for i, b in enumerate(bares, 1):
        lines.append(f"bare #{i}: {b.chapters} chapters (+{b.images} images) in "
                     f"{b.seconds:.2f}s: {b.rate:.0f} chapters/s")  # fmt: skip
    lines.append(
        f"jobstream: {js.chapters} chapters ({js.failed} failed) in {js.seconds:.2f}s"
        f" (FULL_NOVEL created -> VOLUME_BATCH finished): {js.rate:.0f} chapters/s"
    )
    lines.append(f"  {js.phases}")
    cpu = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in js.cpu.items())
    lines.append(f"CPU from the POST to the VOLUME_BATCH's end: {cpu}")
    epub = f"{js.epub_s:.2f}s" if js.epub_s is not None else "n/a"
    fmt = f"{js.format_s:.2f}s" if js.format_s is not None else js.format_note
    lines.append(f"epub {epub}, {args.format} {fmt} (ARTIFACT started -> finished)")
    lines.extend(budget(bares, js, ceiling))
    lines.append(f"bare {ceiling:.0f}/s  jobstream {js.rate:.0f}/s  ratio "
                 f"{js.rate / ceiling if ceiling else 0.0:.2f}x (goal >= 0.7x)")  # fmt: skip
    return "\n".join(lines)


def budget(bares: list[Bare], js: Jobstream, ceiling: float) -> list[str]:
    """What the CPU each side spent a chapter allows on this machine's cores: no process
    goes faster than one core, and all of them together no faster than every core."""
    if not js.chapters or not ceiling:
        return []
    cores = os.cpu_count() or 1
    bare_ms = {
        n: statistics.mean(b.cpu[n] / b.chapters for b in bares) * 1000 for n in ("loop", "site")
    }
    js_ms = {name: s / js.chapters * 1000 for name, s in js.cpu.items()}
    slowest = max(js_ms, key=lambda n: js_ms[n])
    one = 1000 / js_ms[slowest]  # chapters/s with `slowest` on one whole core
    every = cores * 1000 / sum(js_ms.values())  # with all of them sharing every core
    parts = ", ".join(f"{n} {ms:.3f}" for n, ms in js_ms.items())
    return [
        f"CPU ms a chapter: bare loop {bare_ms['loop']:.3f} + site {bare_ms['site']:.3f};"
        f" jobstream {sum(js_ms.values()):.3f} ({parts})",
        f"  what that allows on {cores} cores: {slowest} on one core {one:.0f}/s"
        f" ({one / ceiling:.2f}x), every process on every core {every:.0f}/s"
        f" ({every / ceiling:.2f}x)",
    ]


async def bench(args: argparse.Namespace) -> str:
    work = Path(tempfile.mkdtemp(prefix="jobstream-bench-novel-"))
    try:
        async with site_process(args, work) as site:
            await bare(site, min(args.chapters, 100))  # warm-up, not counted
            first = await bare(site, args.chapters)
            js = await run_jobstream(args, site, work)
            second = await bare(site, args.chapters)
    except Exception:
        for log in sorted(work.rglob("*.log")):
            print(f"--- {log.relative_to(work)}\n{tail(log, 15)}", file=sys.stderr)
        print(f"(logs and data kept in {work})", file=sys.stderr)
        raise
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return report(args, [first, second], js)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--chapters", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--format", default="docx", help="a format to convert to (Calibre's need it); none: none"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per job at most")
    p.add_argument("--nats-conf", type=Path, help="nats-server config (default: nats.conf)")
    p.add_argument(
        "--workers", type=int, default=1,
        help="`jobstream worker` processes (each allows the host its own requests at once)",
    )  # fmt: skip
    p.add_argument("--child", choices=["site"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return p


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers: at least 1")
    if args.child == "site":
        return site_child(args)
    try:
        print(asyncio.run(bench(args)))
    except KeyboardInterrupt:
        print("interrupted; every started process was stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
