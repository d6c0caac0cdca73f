"""Extra request headers (a Referer) go with every hop and every attempt of a fetch, beside
the User-Agent; a fetch without them sends none. Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from engine.crawl.fetcher import FetchSettings, fetch
from tests.support import serve_app

REFERER = "http://127.0.0.1/the-chapter.html"


def _app(seen: list[tuple[str, str | None, str | None]]) -> web.Application:
    """/start redirects to /busy, which answers 503 once, then 200."""

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Referer"),
                     request.headers.get("User-Agent")))  # fmt: skip
        if request.path == "/start":
            raise web.HTTPFound("/busy")
        if sum(1 for path, _, _ in seen if path == "/busy") == 1:
            return web.Response(status=503, headers={"Retry-After": "0"})
        return web.Response(body=b"ok", content_type="image/png")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


async def test_headers_go_with_every_hop_and_attempt(
    session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    seen: list[tuple[str, str | None, str | None]] = []
    async with serve_app(_app(seen)) as origin:
        result = await fetch(session, origin + "/start", settings, headers={"Referer": REFERER})
        plain = await fetch(session, origin + "/busy", settings)
    assert result.status == 200 and result.body == b"ok" and plain.status == 200
    ua = settings.user_agent
    assert seen == [
        ("/start", REFERER, ua), ("/busy", REFERER, ua), ("/start", REFERER, ua),
        ("/busy", REFERER, ua), ("/busy", None, ua),
    ]  # fmt: skip
