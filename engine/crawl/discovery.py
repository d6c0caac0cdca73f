"""Network side of discovery: fetching robots.txt and walking sitemaps."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import aiohttp
import msgspec

from engine.crawl.errors import CrawlError, FetchFailed
from engine.crawl.extract import decode_html
from engine.crawl.fetcher import FetchSettings, fetch
from engine.crawl.robots import MAX_ROBOTS_BYTES, RobotsPolicy
from engine.crawl.sitemap import MAX_SITEMAP_BYTES, SitemapResult, parse_sitemap
from engine.crawl.urls import normalize_url

MAX_SITEMAP_FILES = 50


async def load_robots(
    session: aiohttp.ClientSession, origin: str, settings: FetchSettings
) -> RobotsPolicy:
    """Fetch ``origin``/robots.txt and turn the outcome into a policy (RFC 9309 §2.3.1).

    2xx: parsed rules. 4xx, or a fetch that fails permanently (redirect loop,
    DNS, blocked address: the page fetches will report that themselves): allow
    all. 5xx or network failure after retries: disallow all.
    """
    capped = msgspec.structs.replace(settings, max_bytes=min(settings.max_bytes, MAX_ROBOTS_BYTES))
    try:
        result = await fetch(session, f"{origin}/robots.txt", capped)
    except FetchFailed as e:
        return RobotsPolicy.allow_all() if e.permanent else RobotsPolicy.disallow_all(str(e))
    except CrawlError:
        return RobotsPolicy.allow_all()
    if 200 <= result.status < 300:
        text = decode_html(result.body, result.content_type)
        return RobotsPolicy.parse(text, settings.user_agent)
    if 400 <= result.status < 500:
        return RobotsPolicy.allow_all()
    return RobotsPolicy.disallow_all(f"HTTP {result.status}")


async def discover_sitemap_urls(
    session: aiohttp.ClientSession,
    sitemaps: list[str],
    settings: FetchSettings,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[str]:
    """Page URLs listed by ``sitemaps`` and the sitemap indexes they nest, in order.

    At most MAX_SITEMAP_FILES sitemap files are fetched; unreachable or non-2xx
    sitemaps are skipped silently. Returned URLs are normalised and deduplicated
    but not scope-checked.
    """
    # Sitemaps may legitimately be larger than a page (the protocol allows 50 MB).
    settings = msgspec.structs.replace(
        settings, max_bytes=max(settings.max_bytes, MAX_SITEMAP_BYTES)
    )
    queue = deque(sitemaps)
    visited: set[str] = set()
    found: dict[str, None] = {}
    while queue and len(visited) < MAX_SITEMAP_FILES and not should_stop():
        url = normalize_url(queue.popleft())
        if url is None or url in visited:
            continue
        visited.add(url)
        parsed = await _fetch_sitemap(session, url, settings)
        queue.extend(parsed.sitemaps)
        for page in parsed.urls:
            normalized = normalize_url(page)
            if normalized is not None:
                found.setdefault(normalized, None)
    return list(found)


async def _fetch_sitemap(
    session: aiohttp.ClientSession, url: str, settings: FetchSettings
) -> SitemapResult:
    try:
        result = await fetch(session, url, settings)
    except CrawlError:
        return SitemapResult()
    if not 200 <= result.status < 300:
        return SitemapResult()
    return parse_sitemap(result.body)
