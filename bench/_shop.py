"""The local shop (tests/sites/shop.py) in a process of its own, for bench/spider.py.

    .venv/bin/python bench/_shop.py --port P [--products 2000] [--per-page 20] [--seed 0]

Served without an access log (aiohttp's or the shop's), so the site costs as little CPU as
it can and never shares an event loop with a spider being measured.
Prints "ready" once it listens; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from tests.sites.shop import build_shop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--products", type=int, default=2000)
    p.add_argument("--per-page", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    app = build_shop(args.products, per_page=args.per_page, seed=args.seed, log=False)
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
