"""An arq worker for bench/jobs.py: one task, the fetch a jobstream SCRAPE job runs.

    .venv/bin/python bench/_arq_worker.py --redis-port P [--max-jobs 16] [--poll-delay 0.005]

The task `scrape(url)` calls the worker's own `fetch_page` (fetch, then markdown and links
of an HTML page) with the same formats a SCRAPE job's default asks for, on one shared
session made by `make_session`, and returns the page's outcome as plain data (arq stores it
in Redis as the job's result). Prints "ready" once the worker runs; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
from typing import Any

import msgspec
from arq.connections import RedisSettings
from arq.worker import Worker

from engine.crawl.fetcher import FetchSettings, make_session
from engine.crawl.pages import fetch_page
from engine.handlers import DEFAULT_FORMATS

SETTINGS = FetchSettings(allow_private=True)


async def startup(ctx: dict[str, Any]) -> None:
    ctx["session"] = make_session(SETTINGS)
    print("ready", flush=True)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["session"].close()


async def scrape(ctx: dict[str, Any], url: str) -> dict[str, Any]:
    page = await fetch_page(ctx["session"], url, 0, SETTINGS, set(DEFAULT_FORMATS))
    out: dict[str, Any] = msgspec.to_builtins(page)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--redis-port", type=int, required=True)
    p.add_argument("--max-jobs", type=int, default=16)
    p.add_argument("--poll-delay", type=float, default=0.005)
    args = p.parse_args()
    worker = Worker(
        functions=[scrape], redis_settings=RedisSettings(host="127.0.0.1", port=args.redis_port),
        max_jobs=args.max_jobs, poll_delay=args.poll_delay, on_startup=startup,
        on_shutdown=shutdown, log_results=False,
    )  # fmt: skip
    worker.run()  # on the loop the worker made, where its SIGTERM handler is


if __name__ == "__main__":
    main()
