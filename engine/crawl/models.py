"""Records exchanged between :func:`engine.crawl.crawler.crawl_site` and its caller."""

from __future__ import annotations

from typing import Annotated

import msgspec

from engine.crawl.errors import InvalidOptions
from engine.crawl.extract import FORMATS

MAX_CONCURRENCY = 100


def _default_formats() -> set[str]:
    return {"markdown", "links"}


class CrawlOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What to crawl. ``max_pages`` 0 = unlimited; ``max_depth`` None = unlimited.

    Glob semantics of include/exclude paths: see :func:`engine.crawl.urls.path_allowed`.
    ``delay_ms`` is a minimum gap between requests to one host (robots Crawl-delay
    raises it). ``formats`` is a subset of {"markdown", "html", "text", "links"}.
    ``http_fallback``: ``url`` was made from a bare domain; crawl its http twin when https
    cannot connect (engine.crawl.scheme).
    """

    url: str
    use_sitemap: bool = True
    find_links: bool = True
    include_subdomains: bool = False
    max_pages: Annotated[int, msgspec.Meta(ge=0)] = 0
    max_depth: Annotated[int, msgspec.Meta(ge=0)] | None = None
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=MAX_CONCURRENCY)] = 20
    include_paths: list[str] = msgspec.field(default_factory=list)
    exclude_paths: list[str] = msgspec.field(default_factory=list)
    respect_robots: bool = True
    delay_ms: Annotated[int, msgspec.Meta(ge=0)] = 0
    formats: set[str] = msgspec.field(default_factory=_default_formats)
    http_fallback: bool = False

    def validate(self) -> None:
        """Raise InvalidOptions if a field is out of range (construction does not check)."""
        problems = []
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            problems.append(f"concurrency must be 1..{MAX_CONCURRENCY}")
        if self.max_pages < 0 or self.delay_ms < 0:
            problems.append("max_pages and delay_ms must be >= 0")
        if self.max_depth is not None and self.max_depth < 0:
            problems.append("max_depth must be >= 0")
        if not self.formats <= FORMATS:
            problems.append(f"unknown formats {sorted(self.formats - FORMATS)}")
        if problems:
            raise InvalidOptions("; ".join(problems))


class PageOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The result of fetching one URL, reported once per URL via ``on_page``.

    ``ok`` means a 2xx response. ``status`` is None when no response was
    obtained (``error`` then says why). ``links`` are the normalised links of an
    OK HTML page (always filled, so a resumed crawl can continue past it);
    ``markdown``/``html``/``text`` are filled for OK HTML pages when requested.
    ``found_on`` is the crawled page whose links led to this URL first (None for the start
    URL, sitemap entries and scrapes).
    """

    url: str
    final_url: str
    depth: int
    status: int | None
    ok: bool
    error: str | None = None
    title: str | None = None
    description: str | None = None
    links: list[str] = msgspec.field(default_factory=list)
    markdown: str | None = None
    html: str | None = None
    text: str | None = None
    content_type: str | None = None
    duration_ms: int = 0
    bytes: int = 0
    cache_hit: bool | None = None
    truncated: bool = False
    found_on: str | None = None


class CrawlSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Totals of one :func:`crawl_site` call (this run only, not resumed history).

    ``start_refused`` says why robots.txt kept the start URL from being fetched (None when
    it did not): its rules, or the file could not be read (RFC 9309: then fetch nothing).
    ``start_url`` is the URL the crawl started from (http when https fell back).
    """

    pages: int
    ok: int
    failed: int
    skipped: int
    stopped: bool
    sitemap_urls: int
    start_refused: str | None = None
    start_url: str = ""
