"""Local novel sites on 127.0.0.1: the NovelFull and the Madara layout of
tests/sites/novelsite_pages.py, served by aiohttp, with an access log and faults.

Each site holds ``MAIN`` (a novel of 260 chapters without volumes, images in every chapter
whose serial ends in 7, ads and scripts in every body); the Madara site also holds
``VOLUMES`` (30 chapters in 3 volumes). Faults, by chapter serial (of every novel): one
answers 503 once, one 429 with Retry-After once, one is always 404; and the Madara site's
``<novel>/ajax/chapters/`` can be switched off (404) to exercise the admin-ajax fallback.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.sites.novelsite_pages import LAYOUTS, Layout, MadaraLayout, Novel, make_novel
from tests.support import serve_app

MAIN, VOLUMES = "the-iron-archive", "tides-of-amber"
MAIN_CHAPTERS = 260
LARGE = 1_500_000  # bytes added to a large image
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@dataclass
class Faults:
    """What goes wrong, by chapter serial; ``retry_after`` is the 429's header (seconds)."""

    unavailable_once: frozenset[int] = frozenset({5})
    rate_limited_once: frozenset[int] = frozenset({6})
    missing: frozenset[int] = frozenset({13})
    retry_after: int = 1
    chapters_endpoint: bool = True  # Madara's <novel>/ajax/chapters/; off: 404
    # hotlink protection: an image answers 403 unless its Referer is the page showing it
    # (the chapter's URL; the novel page's for a cover)
    hotlink_protected: bool = False
    # chapters whose images are large (1.5 MB: larger than the library keeps beside chapter
    # bodies, so stored as files)
    large_images: frozenset[int] = frozenset()


@dataclass
class NovelSite:
    """A novel site's content and state; ``log`` counts requests per path (no query)."""

    layout: Layout
    novels: dict[str, Novel]
    faults: Faults = field(default_factory=Faults)
    origin: str = "http://novels.test"
    log: Counter[str] = field(default_factory=Counter)

    def novel_url(self, slug: str = MAIN) -> str:
        return self.origin + self.layout.novel_path(self.novels[slug])

    def chapter_url(self, serial: int, slug: str = MAIN) -> str:
        return self.origin + self.layout.chapter_path(self.novels[slug], serial)

    def novel_page(self, slug: str = MAIN) -> str:
        return self.layout.novel_page(self.novels[slug], self.origin)

    def chapter_list(self, slug: str = MAIN) -> str:
        """What the site's chapter-list endpoint answers for the novel."""
        return self.layout.chapter_list(self.novels[slug], self.origin)

    def chapter_page(self, serial: int, slug: str = MAIN) -> str:
        return self.layout.chapter_page(self.novels[slug], serial, self.origin)

    def by_site_id(self, value: str) -> Novel | None:
        return next((n for n in self.novels.values() if str(n.site_id) == value), None)


SITE_KEY = web.AppKey("novel_site", NovelSite)


def novel_site(layout: str, *, seed: int = 7, faults: Faults | None = None) -> NovelSite:
    """The site of ``layout`` ("novelfull" or "madara"), content generated from ``seed``."""
    novels = {MAIN: make_novel(seed, slug=MAIN, chapters=MAIN_CHAPTERS)}
    if layout == "madara":
        novels[VOLUMES] = make_novel(seed + 1, slug=VOLUMES, chapters=30, volumes=3)
    return NovelSite(LAYOUTS[layout], novels, faults or Faults())


Handler = Callable[[NovelSite, web.Request, dict[str, str]], Awaitable[web.Response]]


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


async def _novel(site: NovelSite, request: web.Request, match: dict[str, str]) -> web.Response:
    novel = site.novels.get(match["slug"])
    if novel is None:
        raise web.HTTPNotFound()
    return _html(site.layout.novel_page(novel, site.origin))


async def _chapter(site: NovelSite, request: web.Request, match: dict[str, str]) -> web.Response:
    novel, serial, faults = site.novels.get(match["slug"]), int(match["n"]), site.faults
    first = site.log[request.path] == 1
    if novel is None or not 1 <= serial <= len(novel.chapters) or serial in faults.missing:
        raise web.HTTPNotFound()
    if first and serial in faults.unavailable_once:
        return web.Response(status=503, text="busy, try again")
    if first and serial in faults.rate_limited_once:
        headers = {"Retry-After": str(faults.retry_after)}
        return web.Response(status=429, text="slow down", headers=headers)
    return _html(site.layout.chapter_page(novel, serial, site.origin))


async def _archive(site: NovelSite, request: web.Request, match: dict[str, str]) -> web.Response:
    novel = site.by_site_id(request.query.get("novelId", ""))
    if novel is None:
        raise web.HTTPNotFound()
    return _html(site.layout.chapter_list(novel, site.origin))


async def _chapters(site: NovelSite, request: web.Request, match: dict[str, str]) -> web.Response:
    novel = site.novels.get(match["slug"])
    if novel is None or not site.faults.chapters_endpoint:
        raise web.HTTPNotFound()
    return _html(site.layout.chapter_list(novel, site.origin))


async def _admin_ajax(site: NovelSite, request: web.Request, match: dict[str, str]) -> web.Response:
    form = await request.post()
    novel = site.by_site_id(str(form.get("manga", "")))
    if form.get("action") != "manga_get_chapters" or novel is None:
        return web.Response(status=400, text="0")  # what WordPress answers
    return _html(site.layout.chapter_list(novel, site.origin))


async def _image(site: NovelSite, request: web.Request, match: dict[str, str]) -> web.Response:
    if site.faults.hotlink_protected and request.headers.get("Referer") != _shown_on(site, match):
        raise web.HTTPForbidden(text="no hotlinking")
    large = int(match.get("n") or 0) in site.faults.large_images
    return web.Response(body=PNG + bytes(LARGE) if large else PNG, content_type="image/png")


def _shown_on(site: NovelSite, match: dict[str, str]) -> str | None:
    """The URL of the page showing an image: its chapter's, or the novel's for a cover."""
    slug = match.get("cover") or match["slug"]
    if slug not in site.novels:
        return None
    return site.novel_url(slug) if match.get("cover") else site.chapter_url(int(match["n"]), slug)


_COMMON: list[tuple[str, str, Handler]] = [
    ("GET", r"/images/(?P<slug>[\w-]+)/(?P<n>\d+)-\d+\.png", _image),
    ("GET", r"/covers/(?P<cover>[\w-]+)\.png", _image),
]
ROUTES: dict[str, list[tuple[str, str, Handler]]] = {
    "novelfull": [
        ("GET", r"/(?P<slug>[\w-]+)\.html", _novel),
        ("GET", r"/(?P<slug>[\w-]+)/chapter-(?P<n>\d+)\.html", _chapter),
        ("GET", r"/ajax/chapter-archive", _archive),
        *_COMMON,
    ],
    "madara": [
        ("GET", r"/novel/(?P<slug>[\w-]+)/?", _novel),
        ("GET", r"/novel/(?P<slug>[\w-]+)/chapter-(?P<n>\d+)/?", _chapter),
        ("POST", r"/novel/(?P<slug>[\w-]+)/ajax/chapters/?", _chapters),
        ("POST", r"/wp-admin/admin-ajax\.php", _admin_ajax),
        *_COMMON,
    ],
}


async def _dispatch(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE_KEY]
    site.log[request.path] += 1
    for method, pattern, handler in ROUTES[site.layout.name]:
        match = re.fullmatch(pattern, request.path)
        if match is not None and request.method == method:
            return await handler(site, request, match.groupdict())
    raise web.HTTPNotFound()


def build_novel_app(site: NovelSite) -> web.Application:
    """``site`` as an aiohttp app (it renders URLs with ``site.origin``)."""
    app = web.Application()
    app[SITE_KEY] = site
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


@contextlib.asynccontextmanager
async def serve_novel_site(
    layout: str, *, seed: int = 7, faults: Faults | None = None
) -> AsyncIterator[NovelSite]:
    """Serve :func:`novel_site` on 127.0.0.1 (a free port) for the duration of the block."""
    site = novel_site(layout, seed=seed, faults=faults)
    async with serve_app(build_novel_app(site)) as origin:
        site.origin = origin
        yield site


def madara_inline_page(site: NovelSite, slug: str = MAIN) -> str:
    """The novel page of an older Madara version, which lists the chapters itself."""
    assert isinstance(site.layout, MadaraLayout)
    return site.layout.novel_page(site.novels[slug], site.origin, inline_list=True)
