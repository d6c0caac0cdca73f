"""Spider throughput: a jobstream SPIDER job vs Scrapy's CrawlSpider, on one local shop.

    .venv/bin/python bench/spider.py [--products 2000] [--per-page 20] [--concurrency 16]
        [--repeat 5] [--engines scrapy,jobstream] [--nats-conf FILE] [--timeout 300]

One run, one local shop (tests/sites/shop.py: `--products` product pages, `--per-page` per
catalogue page, a /list/ page, one broken link, products without a sku) served by
bench/_shop.py in a process of its own, scraped from catalogue page 1 by:

(1) jobstream: a fresh nats-server (the project's nats.conf), `jobstream api` and one
    `jobstream worker --concurrency 1` process, started as bench/crawl.py starts them. The
    admin POSTs tests/sites/shop_spider.json to /api/spiders once, then per run POST
    /api/job/create/spider {spider_id, arguments: {start}, concurrency, max_pages: every page,
    respect_robots: true}; timed from that POST until GET /api/job/{id} says it is done;
    items = the job's `items_scraped`. Every page is recorded (body into RESULTS, a page
    event into JOBS) and every item is an event in JOBS, projected into SQLite.
(2) Scrapy: a `CrawlSpider` (bench/_scrapy_shop.py) in a child process, with rules
    equivalent to the definition's (catalogue pages followed through `li.next a`;
    `article.product_pod h3 a` product pages parsed with the same five CSS fields, an
    item without a sku dropped; the /list/ page from `aside.promo a` giving one item per
    `article.row`), default settings except CONCURRENT_REQUESTS(_PER_DOMAIN) =
    concurrency, ROBOTSTXT_OBEY, LOG_LEVEL=WARNING and a JSON Lines feed of the items
    (Scrapy's way of keeping them; jobstream keeps them too); timed from spider_opened to
    spider_closed.

`--repeat` rounds, each engine once per round (the order alternating, so that a machine
getting busier or quieter weighs on both alike); the median run of each engine counts.
Both engines must yield exactly the shop's expected number of items (Shop.expected_items):
a run that does not is reported as such.
The ratio jobstream/Scrapy is checked against issue 13's goal (>= 3x).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench._support import cpu_seconds, free_port, tail
from bench.crawl import child, jobstream_stack
from engine.domain.model import JobStatus
from tests.sites.shop import Shop, load_definition

HERE = Path(__file__).resolve().parent
SHOP_SCRIPT = HERE / "_shop.py"
GOAL = 3.0
SCRAPY_SCRIPT = HERE / "_scrapy_shop.py"


@dataclass
class Run:
    """One engine's scrape of the shop."""

    name: str
    items: int = 0
    pages: int = 0
    seconds: float = 0.0
    inside: float = 0.0  # jobstream: the job's started_at -> finished_at, in seconds
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds in the run
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def _cpu(pid: int | None) -> float:
    return (cpu_seconds(pid) or 0.0) if pid is not None else 0.0


@dataclass
class ShopSite:
    origin: str
    pid: int

    @property
    def start(self) -> str:
        return self.origin + "/catalogue/page-1.html"


@contextlib.asynccontextmanager
async def shop_process(args: argparse.Namespace, work: Path) -> AsyncIterator[ShopSite]:
    port = free_port()
    argv = [sys.executable, str(SHOP_SCRIPT), "--port", str(port), "--seed", str(args.seed)]
    argv += ["--products", str(args.products), "--per-page", str(args.per_page)]
    async with child(argv, work / "shop.log", pipe=True) as proc:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            raise RuntimeError(f"shop did not start:\n{tail(work / 'shop.log')}")
        yield ShopSite(f"http://127.0.0.1:{port}", proc.pid)


# -- (1) jobstream ---------------------------------------------------------------------


async def _json(resp: aiohttp.ClientResponse, what: str, status: int) -> Any:
    body = await resp.json(content_type=None)
    if resp.status != status:
        raise RuntimeError(f"{what}: HTTP {resp.status}: {body}")
    return body


@contextlib.asynccontextmanager
async def jobstream_runner(
    args: argparse.Namespace, site: ShopSite, work: Path
) -> AsyncIterator[Callable[[], Awaitable[Run]]]:
    """The jobstream stack with the shop spider added once; yields a function that runs one
    SPIDER job of it."""
    stack_args = argparse.Namespace(mode="separate", profile=False, steps=False)
    stack_args.nats_conf = args.nats_conf
    shop = Shop(args.products, args.per_page, args.seed)
    body = {
        "arguments": {"start": site.start}, "concurrency": args.concurrency,
        "max_pages": shop.pages + shop.n + 10, "respect_robots": True,
    }  # fmt: skip
    async with jobstream_stack(stack_args, work) as js:
        pids = {**js.pids, "shop": site.pid}
        headers = {"Authorization": f"Bearer {js.token}"}
        async with aiohttp.ClientSession(js.base, headers=headers) as http:
            async with http.post("/api/spiders", json=load_definition()) as resp:
                body["spider_id"] = (await _json(resp, "add spider", 201))["id"]
            yield lambda: _one_job(http, body, pids, args.timeout)


async def _one_job(
    http: aiohttp.ClientSession, body: dict[str, Any], pids: dict[str, int | None], timeout: float
) -> Run:
    run = Run("jobstream (worker process)")
    before = {name: _cpu(pid) for name, pid in pids.items()}
    t0 = time.perf_counter()
    async with http.post("/api/job/create/spider", json=body) as resp:
        job_id = (await _json(resp, "create spider job", 201))["id"]
    job = await _wait_done(http, job_id, timeout)
    run.seconds = time.perf_counter() - t0
    run.cpu = {name: _cpu(pid) - before[name] for name, pid in pids.items()}
    run.items, run.pages = job.get("items_scraped", 0), job["done"] + job["failed"]
    if job.get("error") or job.get("status") != JobStatus.SUCCESS:
        run.notes.append(f"job {JobStatus(job['status']).name}: {job.get('error')}")
    started, finished = job.get("started_at"), job.get("finished_at")
    if started and finished:
        run.inside = (finished - started) / 1000
        rate = run.items / run.inside if run.inside else 0.0
        run.notes.append(f"started->finished {run.inside:.2f}s ({rate:.0f} items/s in the worker)")
    return run


async def _wait_done(http: aiohttp.ClientSession, job_id: str, timeout: float) -> dict[str, Any]:
    job: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while not job.get("is_done"):
                await asyncio.sleep(0.01)  # the end of a job of seconds, to within 1%
                async with http.get(f"/api/job/{job_id}") as resp:
                    job = await _json(resp, "job", 200)
    except TimeoutError:
        state = {k: job.get(k) for k in ("status", "done", "failed", "items_scraped", "error")}
        raise RuntimeError(f"spider job {job_id} not done after {timeout}s: {state}") from None
    return job


# -- (2) Scrapy (bench/_scrapy_shop.py, in a child process) ------------------------------


async def _scrapy_once(args: argparse.Namespace, site: ShopSite, work: Path) -> Run:
    feed = work / "scrapy-items.jl"
    argv = [sys.executable, str(SCRAPY_SCRIPT)]
    argv += ["--url", site.start, "--concurrency", str(args.concurrency), "--feed", str(feed)]
    run = Run("scrapy (CrawlSpider)")
    shop_cpu = _cpu(site.pid)
    async with child(argv, work / "scrapy.log", pipe=True) as proc:
        assert proc.stdout is not None
        out = await asyncio.wait_for(proc.stdout.read(), args.timeout)
        await proc.wait()
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"scrapy failed ({proc.returncode}):\n{tail(work / 'scrapy.log')}")
    result = json.loads(out.strip().splitlines()[-1])
    run.items, run.pages, run.seconds = result["items"], result["pages"], result["seconds"]
    run.cpu = {"scrapy": result["cpu"], "shop": _cpu(site.pid) - shop_cpu}
    feed_lines = len(feed.read_text().splitlines()) if feed.exists() else 0
    if feed_lines != run.items:
        run.notes.append(f"the feed holds {feed_lines} items")
    return run


# -- the benchmark ---------------------------------------------------------------------


def _progress(run: Run) -> None:
    print(f"  {run.name}: {run.items} items, {run.rate:.0f} items/s", file=sys.stderr)


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def report(args: argparse.Namespace, results: dict[str, list[Run]]) -> str:
    shop = Shop(args.products, args.per_page, args.seed)
    expected = len(shop.expected_items("http://x"))
    lines = [
        f"shop: {args.products} products, {args.per_page} per catalogue page ({shop.pages} "
        f"pages), seed {args.seed}, in its own process; {expected} items expected "
        f"({shop.dropped()} products without a sku dropped); concurrency {args.concurrency}; "
        f"{os.cpu_count()} CPUs; median of {args.repeat} run(s) per engine",
        "",
        f"{'engine':<28} {'items':>5} {'pages':>5} {'seconds':>7} {'items/s':>7}  "
        "CPU in the median run (% of one core)",
    ]
    for runs in results.values():
        run = median_run(runs)
        cpu = ", ".join(f"{k} {100 * v / run.seconds:.0f}%" for k, v in run.cpu.items())
        lines.append(
            f"{run.name:<28} {run.items:>5} {run.pages:>5} {run.seconds:>7.2f} "
            f"{run.rate:>7.0f}  {cpu}"
        )
        lines.append(f"    all runs, items/s: {', '.join(f'{r.rate:.0f}' for r in runs)}")
        lines.extend(f"    {note}" for note in run.notes)
        wrong = [r.items for r in runs if r.items != expected]
        if wrong:
            lines.append(f"    WRONG item counts (expected {expected}): {wrong}")
    if "jobstream" in results and "scrapy" in results:
        lines += ["", *_ratios(results)]
    return "\n".join(lines)


def _ratios(results: dict[str, list[Run]]) -> list[str]:
    """The goal's ratio (from the POST to the job's end, as a user waits for it), and the
    worker's alone (started -> finished, as Scrapy's spider_opened -> spider_closed)."""
    ours, theirs = median_run(results["jobstream"]), median_run(results["scrapy"])
    ratio = ours.rate / (theirs.rate or 1)
    verdict = "met" if ratio >= GOAL else "NOT met"
    lines = [f"jobstream/scrapy: {ratio:.2f}x items/s (goal >= {GOAL}x: {verdict})"]
    inside = sorted(r.items / r.inside for r in results["jobstream"] if r.inside)
    if inside:
        worker = inside[len(inside) // 2] / (theirs.rate or 1)
        lines.append(f"  the worker alone (started->finished, median): {worker:.2f}x")
    return lines


async def _rounds(
    args: argparse.Namespace, site: ShopSite, work: Path, results: dict[str, list[Run]]
) -> None:
    """`--repeat` rounds, each engine once per round, the order alternating, so that a
    machine that gets busier or quieter weighs on both alike."""
    async with contextlib.AsyncExitStack() as stack:
        runners: dict[str, Callable[[], Awaitable[Run]]] = {}
        for kind in args.engines:
            if kind == "jobstream":
                runners[kind] = await stack.enter_async_context(jobstream_runner(args, site, work))
            else:
                runners[kind] = functools.partial(_scrapy_once, args, site, work)
        for n in range(args.repeat):
            for kind in args.engines if n % 2 == 0 else args.engines[::-1]:
                results.setdefault(kind, []).append(await runners[kind]())
                _progress(results[kind][-1])


async def bench(args: argparse.Namespace) -> dict[str, list[Run]]:
    results: dict[str, list[Run]] = {}
    work = Path(tempfile.mkdtemp(prefix="jobstream-bench-spider-"))
    try:
        async with shop_process(args, work) as site:
            await _rounds(args, site, work, results)
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
    p.add_argument("--products", type=int, default=2000, help="product pages of the shop")
    p.add_argument("--per-page", type=int, default=20, help="products per catalogue page")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--repeat", type=int, default=5, help="rounds; the median run counts")
    p.add_argument("--engines", default="scrapy,jobstream", help="comma-separated subset")
    p.add_argument("--nats-conf", type=Path, default=None, help="nats-server config")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    return p


def main() -> int:
    args = _parser().parse_args()
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(args.engines) - {"scrapy", "jobstream"}
    if unknown:
        _parser().error(f"unknown engines: {', '.join(sorted(unknown))}")
    try:
        results = asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("interrupted; every started process was stopped", file=sys.stderr)
        return 130
    print(report(args, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
