"""A loopback "canary": an HTTP server on 127.0.0.1 that answers anything with 200 and counts
what reached it, and the disguises of 127.0.0.1 the private-network guard must see through."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

# Hosts that all reach 127.0.0.1 (through inet_aton, IPv4-mapped IPv6, IDNA, a trailing dot,
# /etc/hosts, or 0.0.0.0, which Linux connects to the local host).
DISGUISES = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "017700000001",
    "0x7f000001",
    "0x7f.1",
    "0X7F.0.0.1",
    "0177.0.0.1",
    "127.0.0.1.",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "localhost",
    "LOCALHOST.",
    "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # fullwidth digits, 127.0.0.1 after IDNA
    "0",
]


class Canary:
    """Counts every request, whatever its method and path; each gets 200 (an XML or text
    body, so a sitemap or robots.txt fetch that got through would be read)."""

    def __init__(self) -> None:
        self.port = 0
        self.hits: list[str] = []

    def origin(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        return app

    async def _any(self, request: web.Request) -> web.Response:
        self.hits.append(f"{request.method} {request.path_qs} Host={request.host}")
        if request.path.endswith(".xml"):
            return web.Response(text=_URLSET.format(origin=self.origin("127.0.0.1")))
        return web.Response(text="<html><body>canary</body></html>", content_type="text/html")


_URLSET = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "<url><loc>{origin}/from-sitemap</loc></url></urlset>"
)


@contextlib.asynccontextmanager
async def serve_on(app: web.Application, host: str) -> AsyncIterator[int]:
    """Serve ``app`` on ``host`` (a loopback address) at a free port; yields the port."""
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serve_canary() -> AsyncIterator[Canary]:
    canary = Canary()
    async with serve_on(canary.app(), "127.0.0.1") as port:
        canary.port = port
        yield canary
