"""The API docs page at /schema: a static page of this server's own files (api/static/docs/,
under /ui/docs/) that renders /schema/openapi.json in the browser. No CDN: it works offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import MediaType, Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

PAGE = Path(__file__).parent / "static" / "docs" / "index.html"


class DocsPage(OpenAPIRenderPlugin):
    """Serves the docs page at the OpenAPI root, /schema; its script reads the document
    from /schema/openapi.json."""

    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)
        self._page: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._page is None:  # the shipped file does not change while the app serves
            self._page = PAGE.read_bytes()
        return self._page
