"""A local site for batch scrapes: fast pages, missing ones, held ones, ones that heal.

- `/p/<n>`: a small HTML page, at once.
- `/missing/<n>`: an HTML 404.
- `/hold/<n>`: a page answered once `release_all` was called.
- `/flaky/<n>`: a 404 until `heal()`, then a page.

`log` lists every request's path in arrival order (the access log); `hits` counts them per
path; `most_at_once` is the most requests it was answering at one time; `cancelled` lists held
requests whose client went away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

from aiohttp import web

from tests.support import serve_app


class BatchSite:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.hits: Counter[str] = Counter()
        self.cancelled: list[str] = []
        self.healed = False
        self.held = 0  # held requests waiting now
        self.at_once = 0
        self.most_at_once = 0
        self._released = asyncio.Event()
        self.origin = ""

    def url(self, path: str) -> str:
        return self.origin + path

    def path(self, url: str) -> str:
        return url.removeprefix(self.origin)

    def release_all(self) -> None:
        self._released.set()

    def heal(self) -> None:
        self.healed = True

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._logged])
        app.add_routes(
            [
                web.get("/p/{n}", self._page),
                web.get("/missing/{n}", self._missing),
                web.get("/hold/{n}", self._hold),
                web.get("/flaky/{n}", self._flaky),
            ]
        )
        return app

    @web.middleware
    async def _logged(self, request: web.Request, handler: web.Handler) -> web.StreamResponse:
        self.log.append(request.path)
        self.hits[request.path] += 1
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            return await handler(request)
        finally:
            self.at_once -= 1

    async def _page(self, request: web.Request) -> web.Response:
        return _html(request.path, f"<p>{request.path}</p>")

    async def _missing(self, request: web.Request) -> web.Response:
        response = _html("Not here", "")
        response.set_status(404)
        return response

    async def _flaky(self, request: web.Request) -> web.Response:
        return await (self._page(request) if self.healed else self._missing(request))

    async def _hold(self, request: web.Request) -> web.Response:
        self.held += 1
        try:
            await self._released.wait()
        except asyncio.CancelledError:
            self.cancelled.append(request.path)
            raise
        finally:
            self.held -= 1
        return _html(request.path, "")


def _html(title: str, body: str) -> web.Response:
    text = f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"
    return web.Response(text=text, content_type="text/html")


@contextlib.asynccontextmanager
async def serve_batch_site() -> AsyncIterator[BatchSite]:
    site = BatchSite()
    async with serve_app(site.app(), handler_cancellation=True, shutdown_timeout=0.5) as origin:
        site.origin = origin
        try:
            yield site
        finally:
            site.release_all()
