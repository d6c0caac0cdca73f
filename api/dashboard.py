"""The dashboard: one static page at `/`, its script and styles under `/ui/`.

No build step: `api/static/` holds the files as served. The page asks for an API token and
talks to the same API as every other client (REST plus EventSource streams).
"""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"
# The page only loads its own files and talks to its own origin; nothing may frame it. Images
# need the token, so the page fetches them itself and shows them through blob: URLs.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@get("/", include_in_schema=False)
async def index() -> File:
    """The dashboard page."""
    return File(
        STATIC / "index.html", filename="index.html", content_disposition_type="inline",
        media_type=MediaType.HTML, headers=_PAGE_HEADERS,
    )  # fmt: skip


def dashboard_router() -> Router:
    """The page and its files, as a router to register on an app (one per app)."""
    assets = create_static_files_router(
        path="/ui", directories=[STATIC], name="dashboard",
        cache_control=CacheControlHeader(no_cache=True),
    )  # fmt: skip
    return Router(path="/", route_handlers=[index, assets], include_in_schema=False)
