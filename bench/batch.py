"""A batch scrape against a crawl of the same pages: one SCRAPE_BATCH job vs one CRAWL job.

    .venv/bin/python bench/batch.py [--pages 1030] [--concurrency 16] [--repeat 3]
        [--seed 0] [--nats-conf FILE] [--timeout 120]

One run, one generated site (tests/sites/testsite.py, `--pages` pages, served by
bench/_site.py in a process of its own), one jobstream stack as bench/crawl.py starts it: a
fresh nats-server (the project's nats.conf: `sync_interval: always`), `jobstream api` and one
`jobstream worker --concurrency 1` process.

First a crawl from "/" (`include_paths: ["/page/*"]`, no sitemaps, robots.txt obeyed,
`--concurrency` requests in flight) discovers the site's pages; its results name them (about
1,000 of the 1,030 by default). Then, `--repeat` times each, alternating: a SCRAPE_BATCH of
exactly those URLs (`concurrency` = `--concurrency`) and the same crawl again (which goes
first alternates: a shared machine drifts, and later runs tend to be faster). Each is timed
from its POST until GET /api/job/{id} says it is done; pages/s = its results / that time.
Both store every page alike (body into RESULTS, a page event into JOBS, the read model);
the crawl also reads robots.txt and feeds each page's links to its frontier, the batch does not.
The medians and their ratio are printed (the goal of issue 12: batch >= 0.8x the crawl),
with the CPU each process used during each engine's median run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench._support import child_pid, cpu_seconds
from bench.crawl import Jobstream, Site, jobstream_stack, site_process

POLL_S = 0.01  # the end of a ~1 s job, to within 1%


@dataclass
class Run:
    """One job of the benchmark: its kind, pages, wall seconds from POST to done, CPU."""

    kind: str
    pages: int = 0
    failed: int = 0
    seconds: float = 0.0
    inside: float = 0.0  # started_at -> finished_at, as the job says
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


class Bench:
    """Creates jobs on one stack and times them."""

    def __init__(self, http: aiohttp.ClientSession, pids: dict[str, int | None], timeout: float):
        self.http, self.pids, self.timeout = http, pids, timeout

    async def run(self, kind: str, path: str, body: dict[str, Any]) -> tuple[Run, str]:
        """POST a job, wait until it is done; its Run and id."""
        before = {name: cpu_seconds(pid) or 0.0 for name, pid in self.pids.items() if pid}
        t0 = time.perf_counter()
        async with self.http.post(path, json=body) as resp:
            created = await resp.json()
            if resp.status != 201:
                raise RuntimeError(f"POST {path}: HTTP {resp.status}: {created}")
        job = await self._done(created["id"])
        run = Run(kind, seconds=time.perf_counter() - t0)
        run.cpu = {n: (cpu_seconds(p) or 0.0) - before[n] for n, p in self.pids.items() if p}
        run.pages, run.failed = job["done"] + job["failed"], job["failed"]
        run.inside = ((job["finished_at"] or 0) - (job["started_at"] or 0)) / 1000
        if job["status"] not in (2, 3):
            raise RuntimeError(f"{kind} job {job['id']} ended with status {job['status']}: {job}")
        return run, str(job["id"])

    async def _done(self, job_id: str) -> dict[str, Any]:
        async with asyncio.timeout(self.timeout):
            while True:
                async with self.http.get(f"/api/job/{job_id}") as resp:
                    job: dict[str, Any] = await resp.json()
                if job.get("is_done"):
                    return job
                await asyncio.sleep(POLL_S)

    async def urls(self, job_id: str) -> list[str]:
        """Every URL of the job's results, in the order they were recorded."""
        urls: list[str] = []
        while True:
            params = {"offset": len(urls), "limit": 100}
            async with self.http.get(f"/api/job/{job_id}/results", params=params) as resp:
                page = await resp.json()
            urls += [item["url"] for item in page["items"]]
            if not page["has_more"]:
                return urls


async def measure(args: argparse.Namespace, site: Site, js: Jobstream) -> dict[str, list[Run]]:
    crawl = {
        "url": site.root, "concurrency": args.concurrency, "use_sitemap": False,
        "find_links": True, "include_paths": ["/page/*"],
    }  # fmt: skip
    runs: dict[str, list[Run]] = {"crawl": [], "batch": []}
    pids = {**js.pids, "site": site.pid}
    headers = {"Authorization": f"Bearer {js.token}"}
    async with aiohttp.ClientSession(js.base, headers=headers) as http:
        bench = Bench(http, pids, args.timeout)
        first, crawl_id = await bench.run("crawl", "/api/job/create/crawl", crawl)
        urls = await bench.urls(crawl_id)
        print(f"discovery crawl: {len(urls)} pages in {first.seconds:.2f}s (not counted)")
        jobs = {
            "batch": ("/api/job/create/scrape", {"urls": urls, "concurrency": args.concurrency}),
            "crawl": ("/api/job/create/crawl", crawl),
        }
        for i in range(args.repeat):  # alternating which goes first: the machine drifts
            for kind in ("batch", "crawl") if i % 2 == 0 else ("crawl", "batch"):
                run, _ = await bench.run(kind, *jobs[kind])
                runs[kind].append(_shown(run))
    return runs


def _shown(run: Run) -> Run:
    print(
        f"  {run.kind:<6} {run.pages:>6} pages ({run.failed} failed) in {run.seconds:6.2f}s "
        f"= {run.rate:7.0f} pages/s  (inside the worker {run.inside:.2f}s)",
        flush=True,
    )
    return run


def median_run(runs: list[Run]) -> Run:
    rates = sorted(runs, key=lambda r: r.rate)
    return rates[len(rates) // 2]


def report(runs: dict[str, list[Run]]) -> str:
    batch, crawl = median_run(runs["batch"]), median_run(runs["crawl"])
    lines = ["", f"{'job':<8} {'pages':>6} {'median s':>9} {'pages/s':>8}   CPU s (median run)"]
    for run in (batch, crawl):
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in sorted(run.cpu.items()))
        lines.append(f"{run.kind:<8} {run.pages:>6} {run.seconds:>9.2f} {run.rate:>8.0f}   {cpu}")
    spread = {k: statistics.pstdev(r.rate for r in v) for k, v in runs.items() if len(v) > 1}
    if spread:
        lines.append("spread (std dev of pages/s): " + ", ".join(
            f"{k} {v:.0f}" for k, v in spread.items()
        ))  # fmt: skip
    ratio = batch.rate / crawl.rate if crawl.rate else 0.0
    lines.append(
        f"\nbatch scrape: {batch.rate:.0f} pages/s  crawl: {crawl.rate:.0f} pages/s  "
        f"ratio {ratio:.2f} (goal >= 0.8)"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pages", type=int, default=1030, help="pages of the generated site")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=16, help="fetches in flight, both jobs")
    p.add_argument("--repeat", type=int, default=3, help="jobs of each kind; the median counts")
    p.add_argument("--nats-conf", type=Path, default=None, help="nats-server config to use")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per job")
    args = p.parse_args(argv)
    # what bench/crawl.py's site and stack read: no Crawl-delay, a worker process, no profile
    args.crawl_delay, args.mode, args.profile, args.steps = None, "separate", False, False
    return args


async def amain(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="jobstream-bench-batch-") as tmp:
        work = Path(tmp)
        async with site_process(args, work) as site, jobstream_stack(args, work) as js:
            js.pids["nats-server"] = js.pids.get("nats-server") or child_pid("nats-server")
            runs = await measure(args, site, js)
    print(report(runs))
    return 0


def main() -> int:
    try:
        return asyncio.run(amain(parse_args()))
    except KeyboardInterrupt:
        return 130
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
