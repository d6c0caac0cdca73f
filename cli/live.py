"""`jobstream submit`, `watch` and `ls`: the API from a terminal, with live progress bars.

They talk to the API at `--url` (or JOBSTREAM_URL) with a token from `--token`, JOBSTREAM_TOKEN
or the admin token file of `--data-dir`. Exit codes: 0 the job succeeded (or the listing was
printed), 1 the watched job failed, was canceled or deleted, 2 usage, token or HTTP errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

import msgspec
from rich.console import Console
from rich.live import Live
from rich.text import Text

from cli.http import Api, CliError, Follower, connect, connection_options, run_console_command
from cli.live_state import (
    Bar,
    WatchState,
    children_settled,
    exit_code,
    final_line,
    on_children_frame,
    on_children_rows,
    on_job_frame,
    on_job_row,
    print_jobs,
    view,
)
from cli.names import parse_priority, parse_status, parse_type, type_name
from cli.spiders import add_spider_submit, items_line, spider_job_body
from cli.sse_client import SseEvent
from engine.domain.model import Category

LIVE_COMMANDS = frozenset({"submit", "watch", "ls"})
# After the job ends, how long its children's feed may take to show them all ended.
CHILDREN_GRACE_S = 2.0
# How often a chapter-counted job's row is read for its roll-up (its stream counts children).
ROW_POLL_S = 0.25
# After such a job's stream ended, how long its row may take to show it ended.
ROW_SETTLE_S = 5.0


def add_live_commands(sub: Any) -> None:
    """Register `submit`, `watch` and `ls` on the `jobstream` subparsers."""
    common = connection_options()
    _add_submit(sub, common)
    watch = sub.add_parser("watch", parents=[common], help="follow a job until it ends")
    watch.add_argument("job_id")
    ls = sub.add_parser("ls", parents=[common], help="list jobs")
    ls.add_argument("--status", type=parse_status, help=", ".join(parse_status.words))
    ls.add_argument("--type", type=parse_type, help="a type's name (crawl, scrape_batch, ...)")
    ls.add_argument("--priority", type=parse_priority, help=", ".join(parse_priority.words))
    ls.add_argument("--category", choices=[c.value for c in Category])
    ls.add_argument("--parent", dest="parent_job_id", help="the children of this batch")
    ls.add_argument("--limit", type=int, default=20, help="at most 100")
    ls.add_argument("--json", action="store_true",
                    help="the API's page as JSON: full job objects, ids whole")  # fmt: skip


def _add_submit(sub: Any, common: argparse.ArgumentParser) -> None:
    submit = sub.add_parser("submit", help="create a crawl, scrape, novel or spider job")
    kinds = submit.add_subparsers(dest="kind", required=True)
    crawl = kinds.add_parser("crawl", parents=[common], help="crawl a site")
    crawl.add_argument("target", help="a domain (example.com) or a start URL")
    crawl.add_argument("--max-pages", type=int, default=0, help="0: no limit")
    crawl.add_argument("--max-depth", type=int)
    crawl.add_argument("--concurrency", type=int)
    crawl.add_argument("--delay-ms", type=int)
    crawl.add_argument("--include", action="append", default=[], metavar="GLOB")
    crawl.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    crawl.add_argument("--subdomains", action="store_true", help="follow subdomains too")
    crawl.add_argument("--no-sitemap", action="store_true")
    crawl.add_argument("--ignore-robots", action="store_true")
    scrape = kinds.add_parser("scrape", parents=[common], help="scrape a list of URLs")
    scrape.add_argument("urls", nargs="+", metavar="URL")
    scrape.add_argument("--format", action="append", dest="formats", metavar="FORMAT",
                        choices=["markdown", "html", "text", "links"])  # fmt: skip
    novel = kinds.add_parser("novel", parents=[common], help="fetch a novel (--full: all of it)")
    novel.add_argument("novel_url", metavar="URL", help="the novel's page")  # --url: the API
    novel.add_argument("--full", action="store_true",
                       help="its chapters too, and an epub: a bar in chapters")  # fmt: skip
    novel.add_argument("--source", help="the source reading it (default: by its host)")
    spider = add_spider_submit(kinds, common)
    for p in (crawl, scrape, novel, spider):
        p.add_argument("--priority", type=parse_priority, help=", ".join(parse_priority.words))
        p.add_argument("--watch", action="store_true", help="follow the job until it ends")


def run_live(args: argparse.Namespace) -> int:
    """Run one of LIVE_COMMANDS; CLI errors are printed on stderr and exit with 2."""
    return run_console_command(lambda console: _run(args, console), lambda _: 2)


async def _run(args: argparse.Namespace, console: Console) -> int:
    async with connect(args) as api:
        if args.command == "submit":
            return await submit(api, args, console)
        if args.command == "watch":
            return await Watcher(api, args.job_id, console).run()
        return await ls(api, args, console)


def crawl_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"url" if "://" in args.target else "domain": args.target}
    body |= {"max_pages": args.max_pages, "include_paths": args.include,
             "exclude_paths": args.exclude}  # fmt: skip
    for key in ("max_depth", "concurrency", "delay_ms", "priority"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    if args.subdomains:
        body["include_subdomains"] = True
    if args.no_sitemap:
        body["use_sitemap"] = False
    if args.ignore_robots:
        body["respect_robots"] = False
    return body


def scrape_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"urls": args.urls}
    if args.formats:
        body["formats"] = args.formats
    if args.priority is not None:
        body["priority"] = args.priority
    return body


def novel_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"url": args.novel_url, "full": args.full}
    for key in ("source", "priority"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    return body


_CREATES = {
    "crawl": ("crawl", crawl_body),
    "scrape": ("scrape", scrape_body),
    "novel": ("fetch-novel", novel_body),
    "spider": ("spider", spider_job_body),
}


async def submit(api: Api, args: argparse.Namespace, console: Console) -> int:
    """Create the job; print its id, or follow it with `--watch`."""
    path, body_of = _CREATES[args.kind]
    job = await api.call("POST", f"/api/job/create/{path}", json=body_of(args))
    if not args.watch:
        print(job["id"])
        return 0
    console.print(f"job {job['id']} created: {type_name(job['type'])} {job['job_title']}")
    code = await Watcher(api, str(job["id"]), console).run()
    if args.kind == "spider":
        console.print(await items_line(api, str(job["id"])), soft_wrap=True)
    return code


async def ls(api: Api, args: argparse.Namespace, console: Console) -> int:
    """The jobs matching the filters, newest first, as a table."""
    filters = {
        "status": args.status, "type": args.type, "priority": args.priority,
        "category": args.category, "parent_job_id": args.parent_job_id, "limit": args.limit,
        "include": "progress",
    }  # fmt: skip
    params = {k: str(v) for k, v in filters.items() if v is not None}
    page = await api.call("GET", "/api/jobs", params=params)
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(page), indent=2) + b"\n")
        sys.stdout.buffer.flush()
        return 0
    print_jobs(console, page["items"], page["total"])
    return 0


class Watcher:
    """Follows one job's stream (and, for a batch, its children's feed) into a live view."""

    def __init__(self, api: Api, job_id: str, console: Console) -> None:
        self.api = api
        self.console = console
        self.state = WatchState(job=Bar(id=job_id))
        self.started = time.monotonic()
        self._live: Live | None = None
        self._children: asyncio.Task[None] | None = None
        self._rows: asyncio.Task[None] | None = None

    async def run(self) -> int:
        """Follow until the job ends; print the final line; the exit code of its outcome."""
        if not self.console.is_terminal:  # a pipe or a file: the final view only, no redraws
            await self._follow()
            self.console.print(view(self.state))
        else:
            with Live(view(self.state), console=self.console, refresh_per_second=8) as live:
                self._live = live
                await self._follow()
        line = final_line(self.state, await self._seconds())
        self.console.print(Text(line, style="green" if exit_code(self.state) == 0 else "red"),
                           soft_wrap=True)  # fmt: skip
        return exit_code(self.state)

    async def _follow(self) -> None:
        try:
            await Follower(self.api, f"/api/job/{self.state.job.id}/stream").run(self._on_job)
            await self._rows_done()
            await self._children_done()
        finally:
            for task in (self._children, self._rows):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    def _draw(self) -> None:
        if self._live is not None:
            self._live.update(view(self.state))

    def _on_job(self, event: SseEvent) -> bool:
        self.state = on_job_frame(self.state, event.event, event.data, event.seq)
        if self.state.has_children and self._children is None:
            self._children = asyncio.create_task(self._follow_children())
        if self.state.counts_chapters and self._rows is None:
            self._rows = asyncio.create_task(self._poll_rows())
        self._draw()
        return self.state.finished

    def _on_child(self, event: SseEvent) -> bool:
        self.state = on_children_frame(self.state, event.event, event.data)
        self._draw()
        return self.state.finished and children_settled(self.state)

    async def _follow_children(self) -> None:
        params = {"parent_job_id": self.state.job.id}
        with contextlib.suppress(CliError):  # the job's own stream decides the outcome
            await Follower(self.api, "/api/jobs/stream", params=params).run(self._on_child)

    async def _read_row(self) -> dict[str, Any]:
        job: dict[str, Any] = await self.api.call("GET", f"/api/job/{self.state.job.id}")
        self.state = on_job_row(self.state, job)
        self._draw()
        return job

    async def _poll_rows(self) -> None:
        """Read the job's row for its chapter roll-up while it runs."""
        while True:
            with contextlib.suppress(CliError):  # the job's own stream decides the outcome
                await self._read_row()
            await asyncio.sleep(ROW_POLL_S)

    async def _rows_done(self) -> None:
        """For a chapter-counted job, its row and its children's once the read model shows
        the job ended (it lags the stream), so the final line counts every chapter."""
        if self._rows is None:
            return
        self._rows.cancel()
        with contextlib.suppress(CliError):
            for _ in range(int(ROW_SETTLE_S / ROW_POLL_S)):
                if (await self._read_row()).get("is_done"):
                    break
                await asyncio.sleep(ROW_POLL_S)
            params = {"parent_job_id": self.state.job.id, "include": "progress"}
            page = await self.api.call("GET", "/api/jobs", params=params)
            self.state = on_children_rows(self.state, page["items"])

    async def _children_done(self) -> None:
        """Give the children's feed a moment to show every child ended (it lags the job's)."""
        task = self._children
        if task is None or children_settled(self.state):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), CHILDREN_GRACE_S)

    async def _seconds(self) -> float:
        """The job's run time from the API, or since it started, or since the watch began."""
        started_at = self.state.started_at
        with contextlib.suppress(CliError):
            job = await self.api.call("GET", f"/api/job/{self.state.job.id}")
            started_at = job.get("started_at") or started_at
            if started_at and job.get("finished_at"):
                return max(0.0, (int(job["finished_at"]) - int(started_at)) / 1000)
        if started_at:
            return max(0.0, time.time() - started_at / 1000)
        return time.monotonic() - self.started
