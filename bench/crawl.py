"""Crawl throughput: jobstream end to end vs Scrapy vs a bare aiohttp loop, on one local site.

    .venv/bin/python bench/crawl.py [--pages 2000] [--concurrency 16] [--repeat 5]
        [--mode separate|inproc] [--all-paths] [--crawl-delay S] [--profile]

One run, one generated site (tests/sites/testsite.py, `--pages` pages, `--seed`) served by
bench/_site.py in a process of its own, crawled from "/" by following same-host links
(no sitemaps), robots.txt obeyed, `--concurrency` requests in flight, `--repeat` times
per engine (the median crawl counts; one uncounted bare crawl warms the site up), by:

(1) jobstream: a fresh nats-server (the project's nats.conf), `jobstream api` and, in the
    default `--mode separate`, a `jobstream worker --concurrency 1` process (`--mode
    inproc`: `jobstream api --workers 1`, the worker inside the API process). One
    POST /api/job/create/crawl {url, concurrency, use_sitemap: false, find_links: true,
    include_paths} per crawl as the admin, timed from the POST until GET /api/job/{id}
    says done; pages = the job's done + failed. Every page takes the whole path: fetch,
    extract (markdown + links), body into RESULTS and PageRecorded into JOBS (the worker's
    recorder stores them in atomic batches, fsync'd by nats.conf), projection into SQLite.
(2) Scrapy (`scrapy.Spider`, default settings except CONCURRENT_REQUESTS(_PER_DOMAIN) =
    concurrency, ROBOTSTXT_OBEY, LOG_LEVEL=WARNING, HTTPERROR_ALLOW_ALL so error pages
    count as pages too): title + normalised same-host links per page, one item each;
    timed from spider_opened to spider_closed.
(3) bare: asyncio + aiohttp + selectolax + html-to-markdown, BFS over the same links,
    no log, no storage: the ceiling for this stack.

Scrapy and bare run in child processes of this script, jobstream in its own processes;
all share the machine with the site. Links are normalised alike by all three (fragment
dropped, trailing slash of a path dropped), so they fetch the same URLs. By default only
/page/* links are followed (include_paths for jobstream): the site's special pages (1.5 s
/slow, 429 and 503 retries with back-off, a 3 MB page, redirects) otherwise take longer
than a whole bare crawl of 2000 pages and measure the site, not the crawler;
`--all-paths` follows them too. The site's robots.txt is served without its Crawl-delay
(0.01 s, a 100 pages/s cap that jobstream obeys and Scrapy ignores); `--crawl-delay`
restores one. `--nats-conf` swaps the nats-server config (e.g. one without
`sync_interval: always`, to see what fsync costs).

`--profile` runs the jobstream worker (`jobstream worker`'s own main, in a child of this
script) under cProfile and with wall-clock timers around the steps of a crawl slot
(forces `--mode separate`); writes bench/crawl.prof and, to bench/profile-crawl.txt, the
step table and the top 25 functions by cumulative and by own time. The profiler slows
the worker, so pages/s of a profiled run are not the benchmark's. `--steps`: the step
timers alone (cheap), printed under the jobstream row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
import html_to_markdown
from protego import Protego
from selectolax.lexbor import LexborHTMLParser

from bench._support import (
    StepTimes,
    api_process,
    child_pid,
    cpu_seconds,
    free_port,
    jobstream_cli,
    spawn,
    tail,
    wait_worker_polling,
)
from engine.jetstream.embedded import default_conf, embedded_nats, stop_process
from engine.jetstream.store import wait_for_jetstream
from engine.jetstream.work import LANES, WORK_STREAM, consumer_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SITE_SCRIPT = HERE / "_site.py"
PROF_OUT = HERE / "crawl.prof"
PROFILE_OUT = HERE / "profile-crawl.txt"
USER_AGENT = "jobstream-bench/0.1"
WORKER_ARGS = ("worker", "--concurrency", "1", "--allow-private-networks")
BIG_BODY = 256 * 1024  # as engine/crawl/pages.py: bigger documents are parsed in a thread


@dataclass
class Run:
    """One engine's crawl of the site."""

    name: str
    pages: int = 0
    ok: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds in the run
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


# -- processes -------------------------------------------------------------------------


def _cpu(pid: int | None) -> float:
    """CPU seconds of `pid` so far; 0 when it is gone or unknown."""
    return (cpu_seconds(pid) or 0.0) if pid is not None else 0.0


@contextlib.asynccontextmanager
async def child(
    argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None, *, pipe: bool = False
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process (stderr, and stdout unless piped, to `log_path`), stopped on exit."""
    with log_path.open("ab") as log:
        proc = await spawn(argv, log, env, pipe=pipe, cwd=ROOT)
        try:
            yield proc
        finally:
            await stop_process(proc, grace=15.0)


# -- the site ------------------------------------------------------------------------------


@dataclass
class Site:
    origin: str
    pid: int

    @property
    def root(self) -> str:
        return self.origin + "/"


@contextlib.asynccontextmanager
async def site_process(args: argparse.Namespace, work: Path) -> AsyncIterator[Site]:
    port = free_port()
    argv = [sys.executable, str(SITE_SCRIPT), "--port", str(port)]
    argv += ["--pages", str(args.pages), "--seed", str(args.seed)]
    if args.crawl_delay:
        argv += ["--crawl-delay", str(args.crawl_delay)]
    async with child(argv, work / "site.log", pipe=True) as proc:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            raise RuntimeError(f"site did not start:\n{tail(work / 'site.log')}")
        yield Site(f"http://127.0.0.1:{port}", proc.pid)


# -- (1) jobstream -----------------------------------------------------------------------


@dataclass
class Jobstream:
    base: str
    token: str
    nats_url: str
    pids: dict[str, int | None]


async def _queues(nats_url: str) -> str:
    """The state of the dispatcher's and the workers' consumers, to explain a stuck job."""
    nc = await wait_for_jetstream(nats_url)
    lines = []
    try:
        js = nc.jetstream()
        names = [("JOBS", "dispatcher")] + [(WORK_STREAM, consumer_name(n)) for _, n in LANES]
        for stream, name in names:
            i = await js.consumer_info(stream, name)
            lines.append(
                f"consumer {stream}/{name}: pending {i.num_pending}, ack pending "
                f"{i.num_ack_pending}, redelivered {i.num_redelivered}, waiting {i.num_waiting}"
            )
    finally:
        await nc.close()
    return "\n".join(lines)


def _worker_argv(args: argparse.Namespace, steps_out: Path) -> list[str]:
    if not (args.profile or args.steps):
        return [*jobstream_cli(), *WORKER_ARGS]
    me = str(Path(__file__).resolve())
    argv = [sys.executable, me, "--child", "worker", "--steps-out", str(steps_out)]
    return argv if args.profile else [*argv, "--steps"]


@contextlib.asynccontextmanager
async def jobstream_stack(args: argparse.Namespace, work: Path) -> AsyncIterator[Jobstream]:
    """nats-server, `jobstream api` and (mode separate) `jobstream worker`, all ready."""
    data = work / "jobstream"
    data.mkdir()
    async with contextlib.AsyncExitStack() as stack:
        nats_url = await stack.enter_async_context(
            embedded_nats(data / "nats", free_port(), args.nats_conf or default_conf())
        )
        nc = await wait_for_jetstream(nats_url)
        await nc.close()
        private = {"JOBSTREAM_ALLOW_PRIVATE": "1"}
        workers = 1 if args.mode == "inproc" else 0
        api = await stack.enter_async_context(
            api_process(
                nats_url,
                data,
                workers=workers,
                options=["--allow-private-networks"],
                env=private,
                grace=15.0,
            )
        )
        pids: dict[str, int | None] = {"api": api.proc.pid, "nats-server": child_pid("nats-server")}
        env = {**os.environ, "NATS_URL": nats_url, **private}
        waiter, waiter_log = api.proc, data / "api.log"
        if args.mode == "separate":
            waiter_log = data / "worker.log"
            waiter = await stack.enter_async_context(
                child(_worker_argv(args, data / "steps.txt"), waiter_log, env)
            )
            pids["worker"] = waiter.pid
        await wait_worker_polling(nats_url, waiter, waiter_log)
        yield Jobstream(api.base, api.token, nats_url, pids)


async def run_jobstream(args: argparse.Namespace, site: Site, work: Path) -> list[Run]:
    """`--repeat` crawl jobs, one after the other, on one jobstream stack."""
    label = "worker process" if args.mode == "separate" else "worker in API process"
    body: dict[str, Any] = {
        "url": site.root, "concurrency": args.concurrency,
        "use_sitemap": False, "find_links": True,
    }  # fmt: skip
    if not args.all_paths:
        body["include_paths"] = ["/page/*"]
    runs = []
    async with jobstream_stack(args, work) as js:
        pids = {**js.pids, "site": site.pid}
        headers = {"Authorization": f"Bearer {js.token}"}
        async with aiohttp.ClientSession(js.base, headers=headers) as http:
            for _ in range(args.repeat):
                run = Run(f"jobstream ({label})")
                before = {name: _cpu(pid) for name, pid in pids.items()}
                t0 = time.perf_counter()
                try:
                    job = await _crawl_job(http, body, args.timeout)
                except RuntimeError as e:
                    raise RuntimeError(f"{e}\n{await _queues(js.nats_url)}") from None
                run.seconds = time.perf_counter() - t0
                run.cpu = {name: _cpu(pid) - before[name] for name, pid in pids.items()}
                run.pages, run.ok = job["done"] + job["failed"], job["done"]
                _job_notes(run, job)
                runs.append(run)
                _progress(run)
    steps = work / "jobstream" / "steps.txt"
    if args.profile:
        write_profile(runs, steps)
    elif args.steps and steps.exists():
        for run in runs:  # the table covers all of them; the report shows the median's notes
            run.notes.extend(steps.read_text().splitlines())
    return runs


async def _crawl_job(
    http: aiohttp.ClientSession, body: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """POST the crawl, then poll the job until it is done; its last state."""
    async with http.post("/api/job/create/crawl", json=body) as resp:
        created = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"create crawl: HTTP {resp.status}: {created}")
    return await _wait_done(http, created["id"], timeout)


async def _wait_done(http: aiohttp.ClientSession, job_id: str, timeout: float) -> dict[str, Any]:
    job: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                async with http.get(f"/api/job/{job_id}") as resp:
                    job = await resp.json()
                if job.get("is_done"):
                    return job
                await asyncio.sleep(0.01)  # the end of a ~1 s crawl, to within 1%
    except TimeoutError:
        state = {k: job.get(k) for k in ("status", "done", "failed", "error", "started_at")}
        raise RuntimeError(f"crawl job {job_id} not done after {timeout}s: {state}") from None


def _job_notes(run: Run, job: dict[str, Any]) -> None:
    if job.get("error"):
        run.notes.append(f"job error: {job['error']}")
    started, finished = job.get("started_at"), job.get("finished_at")
    if started and finished:
        crawl = (finished - started) / 1000
        wait = (started - job["created_at"]) / 1000
        rate = run.pages / crawl if crawl else 0.0
        run.notes.append(
            f"created->started {wait:.2f}s (worker pick-up), started->finished {crawl:.2f}s "
            f"({rate:.0f} pages/s inside the worker)"
        )


def write_profile(runs: list[Run], steps: Path) -> None:
    last = runs[-1]
    if not PROF_OUT.exists():
        last.notes.append(f"no profile written to {PROF_OUT}")
        return
    text = io.StringIO()
    pages, seconds = sum(r.pages for r in runs), sum(r.seconds for r in runs)
    text.write(f"jobstream worker under cProfile: {len(runs)} crawl(s), {pages} pages in ")
    text.write(f"{seconds:.2f}s ({pages / seconds:.0f} pages/s with the profiler on).\n\n")
    with contextlib.suppress(OSError):
        text.write(steps.read_text() + "\n")
    stats = pstats.Stats(str(PROF_OUT), stream=text)
    stats.strip_dirs()
    text.write("CPU profile of the whole worker process (start-up and idle polling included)\n")
    text.write("== top 25 by cumulative time ==\n")
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(25)
    text.write("== top 25 by own time ==\n")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(25)
    PROFILE_OUT.write_text(text.getvalue())
    last.notes.append(f"profile: {PROFILE_OUT.relative_to(ROOT)} ({PROF_OUT.relative_to(ROOT)})")


# -- the profiled worker (in a child process) ------------------------------------------


class Steps(StepTimes):
    """Wall-clock seconds awaited in each wrapped step of a crawl, summed over all slots."""

    def __init__(self) -> None:
        super().__init__()
        self.slot_seconds = 0.0  # crawl duration x concurrency, summed over crawls

    def wrap_crawls(self, owner: Any, name: str) -> None:
        fn = getattr(owner, name)

        async def timed(session: Any, settings: Any, options: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(session, settings, options, **k)
            finally:
                self.slot_seconds += (time.perf_counter() - t0) * options.concurrency

        setattr(owner, name, timed)

    def report(self) -> str:
        slots = self.slot_seconds or 1.0
        out = [
            "Where a crawl slot's time goes (wall time awaited per step, summed over the",
            f"crawl's concurrent slots: {self.slot_seconds:.1f} slot-seconds in all)",
            f"{'step':<58} {'calls':>7} {'ms/call':>8} {'% slots':>8}",
        ]
        for label in self.order:
            calls, secs = self.calls[label], self.seconds[label]
            per = 1000 * secs / calls if calls else 0.0
            out.append(f"{label:<58} {calls:>7} {per:>8.2f} {100 * secs / slots:>7.0f}%")
        out.append("(indented steps are part of the step above them)")
        return "\n".join(out)


def worker_child(args: argparse.Namespace) -> int:
    """`jobstream worker` as the CLI runs it, under cProfile and with step timers."""
    import cProfile

    import engine.crawl.crawler as crawler
    import engine.crawl.pages as pages
    import engine.handlers as handlers
    import engine.worker as worker
    from cli.main import main as cli_main
    from engine.jetstream.recorder import Recorder

    steps = Steps()
    steps.wrap_crawls(handlers, "crawl_site")
    steps.wrap(crawler._CrawlRun, "_take", "wait for a URL from the frontier")
    steps.wrap(crawler._CrawlRun, "_robots_permit", "robots check")
    steps.wrap(pages, "fetch", "fetch (HTTP request + body, with retries)")
    steps.wrap(pages, "page_outcome", "extract: parse, links, markdown (CPU)")
    steps.wrap(crawler._CrawlRun, "_report", "report the page (on_page, then its links)")
    steps.wrap(worker.RunContext, "page", "  RunContext.page: queue it for the recorder")
    steps.wrap(Recorder, "add", "    Recorder.add (waits only when the queue is full)")
    steps.wrap(worker.RunContext, "_progress", "    _progress (an event every 0.5 s)")
    steps.wrap(crawler._CrawlRun, "_discover", "  discover its links (normalise, frontier)")
    steps.wrap(Recorder, "_store", "recorder task, beside the slots: store one batch")
    steps.wrap(Recorder, "_publish_all", "  bodies -> RESULTS or events -> JOBS, all acks")
    steps.wrap(worker.RunContext, "flush", "end of run: store what is left (RunContext.flush)")
    profiler = None if args.steps else cProfile.Profile()
    if profiler is not None:
        profiler.enable()
    try:
        return cli_main(list(WORKER_ARGS))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(PROF_OUT))
        args.steps_out.write_text(steps.report())


# -- links, shared by Scrapy and bare --------------------------------------------------


def normalize(url: str) -> str | None:
    """http(s) only, lower-case scheme and host, no fragment, no trailing slash on a path."""
    try:
        parts = urlsplit(url.strip())
        netloc = parts.netloc.lower()
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not netloc:
        return None
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def wanted(url: str, netloc: str, all_paths: bool) -> bool:
    parts = urlsplit(url)
    return parts.netloc == netloc and (all_paths or parts.path.startswith("/page/"))


# -- (2) Scrapy (in a child process) --------------------------------------------------


def scrapy_child(args: argparse.Namespace) -> dict[str, Any]:
    import scrapy
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.http import TextResponse

    netloc = urlsplit(args.url).netloc
    times: dict[str, float] = {}

    class SiteSpider(scrapy.Spider):
        name = "site"
        start_urls = [args.url]

        def parse(self, response: Any) -> Any:
            links: list[str] = []
            title = None
            if isinstance(response, TextResponse):
                title = response.css("title::text").get()
                hrefs = response.css("a::attr(href)").getall()
                links = list(
                    dict.fromkeys(filter(None, map(normalize, map(response.urljoin, hrefs))))
                )
            yield {"url": response.url, "status": response.status, "title": title, "links": links}
            for link in links:
                if wanted(link, netloc, args.all_paths):
                    yield scrapy.Request(link, callback=self.parse)

    process = CrawlerProcess(
        {
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
            "ROBOTSTXT_OBEY": True,
            "LOG_LEVEL": "WARNING",
            "HTTPERROR_ALLOW_ALL": True,
        }
    )
    crawler = process.create_crawler(SiteSpider)

    def opened() -> None:
        times["start"], times["cpu0"] = time.perf_counter(), time.process_time()

    def closed() -> None:
        times["end"], times["cpu1"] = time.perf_counter(), time.process_time()

    crawler.signals.connect(opened, signal=signals.spider_opened)
    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    items = int(stats.get("item_scraped_count", 0))
    ok = sum(int(v) for k, v in stats.items() if k.startswith("downloader/response_status_count/2"))
    return {
        "pages": items,
        "ok": ok - 1,  # robots.txt
        "seconds": times["end"] - times["start"],
        "cpu": times["cpu1"] - times["cpu0"],
    }


# -- (3) bare aiohttp + selectolax + html-to-markdown (in a child process) ---------


def bare_extract(body: bytes, url: str) -> tuple[str | None, list[str], str | None]:
    text = body.decode("utf-8", "replace")
    tree = LexborHTMLParser(text)
    node = tree.css_first("title")
    title = node.text(strip=True) if node is not None else None
    base_node = tree.css_first("base[href]")
    base = urljoin(url, base_node.attributes.get("href") or "") if base_node else url
    hrefs = (a.attributes.get("href") or "" for a in tree.css("a[href]"))
    links = list(dict.fromkeys(filter(None, (normalize(urljoin(base, h)) for h in hrefs))))
    options = html_to_markdown.ConversionOptions(extract_metadata=False, base_url=base)
    markdown = html_to_markdown.convert(text, options).content
    return title, links, markdown


async def bare_fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes, str]:
    """GET with redirects; 429/5xx retried 3 times (Retry-After, else 0.5 s doubling)."""
    for attempt in range(4):
        async with session.get(url) as resp:
            body = await resp.read()
            transient = resp.status == 429 or resp.status >= 500
            if not transient or attempt == 3:
                return resp.status, resp.content_type, body, str(resp.url)
            after = resp.headers.get("Retry-After", "")
        await asyncio.sleep(float(after) if after.isdigit() else 0.5 * 2**attempt)
    raise AssertionError("unreachable")


async def bare_page(session: aiohttp.ClientSession, url: str, counts: Counter[str]) -> list[str]:
    counts["pages"] += 1
    try:
        status, content_type, body, final = await bare_fetch(session, url)
    except (aiohttp.ClientError, TimeoutError):
        return []
    if not 200 <= status < 300:
        return []
    counts["ok"] += 1
    if content_type != "text/html":
        return []
    if len(body) > BIG_BODY:
        _, links, _ = await asyncio.to_thread(bare_extract, body, final)
    else:
        _, links, _ = bare_extract(body, final)
    return links


async def bare_crawl(root: str, concurrency: int, all_paths: bool) -> Counter[str]:
    netloc = urlsplit(root).netloc
    counts: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=20)
    headers = {"User-Agent": USER_AGENT}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as s:
        async with s.get(root + "robots.txt") as resp:
            robots = Protego.parse(await resp.text() if resp.status == 200 else "")
        seen, queue = {root}, asyncio.Queue[str]()
        queue.put_nowait(root)

        async def worker() -> None:
            while True:
                url = await queue.get()
                try:
                    for link in await bare_page(s, url, counts):
                        if link in seen or not wanted(link, netloc, all_paths):
                            continue
                        seen.add(link)
                        if robots.can_fetch(link, USER_AGENT):
                            queue.put_nowait(link)
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await queue.join()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return counts


def bare_child(args: argparse.Namespace) -> dict[str, Any]:
    t0, cpu0 = time.perf_counter(), time.process_time()
    counts = asyncio.run(bare_crawl(args.url, args.concurrency, args.all_paths))
    return {
        "pages": counts["pages"],
        "ok": counts["ok"],
        "seconds": time.perf_counter() - t0,
        "cpu": time.process_time() - cpu0,
    }


async def run_children(kind: str, args: argparse.Namespace, site: Site, work: Path) -> list[Run]:
    runs = []
    for _ in range(args.repeat):
        runs.append(await run_child(kind, args, site, work))
        _progress(runs[-1])
    return runs


async def run_child(kind: str, args: argparse.Namespace, site: Site, work: Path) -> Run:
    """Run `--child kind` of this script against the site; it prints one JSON line."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--url", site.root]
    argv += ["--concurrency", str(args.concurrency)]
    if args.all_paths:
        argv.append("--all-paths")
    run = Run(kind)
    site_cpu = _cpu(site.pid)
    async with child(argv, work / f"{kind}.log", pipe=True) as proc:
        assert proc.stdout is not None
        out = await asyncio.wait_for(proc.stdout.read(), args.timeout)
        await proc.wait()
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"{kind} failed ({proc.returncode}):\n{tail(work / f'{kind}.log')}")
    result = json.loads(out.strip().splitlines()[-1])
    run.pages, run.ok, run.seconds = result["pages"], result["ok"], result["seconds"]
    run.cpu = {kind: result["cpu"], "site": _cpu(site.pid) - site_cpu}
    return run


# -- the benchmark -------------------------------------------------------------------


def _pct(seconds: float, wall: float) -> str:
    return f"{100 * seconds / wall:.0f}%" if wall else "-"


def _progress(run: Run) -> None:
    print(f"  {run.name}: {run.pages} pages, {run.rate:.0f} pages/s", file=sys.stderr)


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def report(args: argparse.Namespace, results: dict[str, list[Run]]) -> str:
    robots = f"Crawl-delay {args.crawl_delay}s" if args.crawl_delay else "no Crawl-delay"
    scope = "all same-host links" if args.all_paths else "/page/* links only"
    lines = [
        f"site: {args.pages} generated pages (seed {args.seed}) in its own process; robots.txt "
        f"with {robots}; {scope}; no sitemaps; concurrency {args.concurrency}; "
        f"{os.cpu_count()} CPUs; median of {args.repeat} crawl(s) per engine",
        "",
        f"{'engine':<35} {'pages':>5} {'ok':>5} {'seconds':>7} {'pages/s':>7}  "
        "CPU in the median run (% of one core)",
    ]
    for runs in results.values():
        run = median_run(runs)
        cpu = ", ".join(f"{k} {_pct(v, run.seconds)}" for k, v in run.cpu.items())
        lines.append(
            f"{run.name:<35} {run.pages:>5} {run.ok:>5} {run.seconds:>7.2f} {run.rate:>7.0f}  {cpu}"
        )
        lines.append(f"    all runs, pages/s: {', '.join(f'{r.rate:.0f}' for r in runs)}")
        lines.extend(f"    {note}" for note in run.notes)
    lines.extend(_ratios(results))
    counts = {r.pages for runs in results.values() for r in runs}
    if len(counts) > 1 and max(counts) > 1.02 * min(counts):
        lines.append("note: the engines fetched different numbers of pages (see pages column)")
    return "\n".join(lines)


def _ratios(results: dict[str, list[Run]]) -> list[str]:
    if "jobstream" not in results:
        return []
    ours = median_run(results["jobstream"]).rate
    lines = [""]
    for other, goal in (("scrapy", 3.0), ("bare", 0.5)):
        theirs = median_run(results[other]).rate if other in results else 0.0
        if theirs:
            ratio = ours / theirs
            verdict = "met" if ratio >= goal else "NOT met"
            lines.append(f"jobstream/{other}: {ratio:.2f}x (goal >= {goal}x: {verdict})")
    return lines


async def bench(args: argparse.Namespace) -> dict[str, list[Run]]:
    results: dict[str, list[Run]] = {}
    work = Path(tempfile.mkdtemp(prefix="jobstream-bench-crawl-"))
    try:
        async with site_process(args, work) as site:
            # Warm-up, not counted: the first crawl of a fresh site process is slower.
            await run_child("bare", args, site, work)
            for kind in args.engines:
                if kind == "jobstream":
                    results[kind] = await run_jobstream(args, site, work)
                else:
                    results[kind] = await run_children(kind, args, site, work)
    except Exception:
        for log in sorted(work.rglob("*.log")):
            print(f"--- {log.relative_to(work)}\n{tail(log, 15)}", file=sys.stderr)
        print(f"(logs and data kept in {work})", file=sys.stderr)
        raise
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return results


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--pages", type=int, default=2000, help="pages of the generated site")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--mode", choices=["separate", "inproc"], default="separate")
    p.add_argument(
        "--all-paths", action="store_true", help="follow every same-host link, not only /page/*"
    )
    p.add_argument("--repeat", type=int, default=5, help="crawls per engine; the median counts")
    p.add_argument("--crawl-delay", type=float, default=None, help="serve this robots Crawl-delay")
    p.add_argument(
        "--nats-conf", type=Path, default=None, help="nats-server config (default: nats.conf)"
    )
    p.add_argument("--engines", default="bare,scrapy,jobstream", help="comma-separated subset")
    p.add_argument("--profile", action="store_true", help="cProfile the jobstream worker")
    p.add_argument(
        "--steps", action="store_true", help="time the worker's crawl steps (no cProfile)"
    )
    p.add_argument("--timeout", type=float, default=150.0, help="seconds per engine")
    p.add_argument("--child", choices=["scrapy", "bare", "worker"], help=argparse.SUPPRESS)
    p.add_argument("--steps-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    return p


def main() -> int:
    args = _parser().parse_args()
    if args.child == "worker":
        return worker_child(args)
    if args.child:
        result = scrapy_child(args) if args.child == "scrapy" else bare_child(args)
        print(json.dumps(result), flush=True)
        return 0
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(args.engines) - {"bare", "scrapy", "jobstream"}
    if unknown:
        _parser().error(f"unknown engines: {', '.join(sorted(unknown))}")
    if args.profile or args.steps:
        args.mode = "separate"
        PROF_OUT.unlink(missing_ok=True)
    try:
        results = asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("interrupted; every started process was stopped", file=sys.stderr)
        return 130
    print(report(args, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
