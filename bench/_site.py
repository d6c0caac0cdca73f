"""The generated test site (tests/sites/testsite.py) in a process of its own, for bench/crawl.py.

    .venv/bin/python bench/_site.py --port P [--pages 2000] [--seed 0] [--crawl-delay 0.01]

Served without an access log, so the site costs as little CPU as it can and never shares
a core's event loop with the crawler being measured. `--crawl-delay` keeps the test
site's robots.txt `Crawl-delay` (0.01 s there); by default robots.txt is served without
it (same Disallow and Sitemap lines), because a Crawl-delay caps a polite crawler of one
host at 1/delay pages/s whatever its engine, and Scrapy ignores the directive.
Prints "ready" once it listens; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from tests.sites.testsite import build_site


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--pages", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crawl-delay", type=float, default=None)
    args = p.parse_args()
    app = build_site(args.pages, seed=args.seed, crawl_delay=args.crawl_delay or None)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=lambda _: print("ready", flush=True),
        handler_cancellation=True,
        shutdown_timeout=0.5,
    )


if __name__ == "__main__":
    main()
