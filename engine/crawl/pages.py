"""From a fetch to a page outcome: one rule for the crawler and for scrape jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any

import aiohttp
import msgspec

from engine.crawl.errors import BlockedAddress, CrawlError, FetchFailed
from engine.crawl.extract import decode_html, extract
from engine.crawl.fetcher import FetchResult, FetchSettings, fetch, is_html
from engine.crawl.models import PageOutcome

# Extraction of big documents runs in a thread so the loop keeps serving other fetches.
THREAD_EXTRACT_BYTES = 256 * 1024
# What to do about a fetch the private-network guard refused (FetchSettings.allow_private,
# which the server and worker commands set from this flag).
ALLOW_PRIVATE_HINT = "start the server with --allow-private-networks to allow it"


async def fetch_page(
    session: aiohttp.ClientSession,
    url: str,
    depth: int,
    settings: FetchSettings,
    formats: Collection[str],
    on_status: Callable[[int], None] | None = None,
) -> PageOutcome:
    """Fetch ``url`` (with :func:`fetch`'s retries) and turn the answer into its outcome.

    A CrawlError gives :func:`failed_page`, a response :func:`page_outcome_async`.
    ``on_status`` (e.g. a pacer) gets the status the server last answered with: the
    response's, or that of a FetchFailed which has one; it is not called otherwise.
    """
    try:
        result = await fetch(session, url, settings)
    except CrawlError as e:
        if on_status is not None and isinstance(e, FetchFailed) and e.status is not None:
            on_status(e.status)
        return failed_page(url, depth, e)
    if on_status is not None:
        on_status(result.status)
    return await page_outcome_async(url, depth, result, formats)


def failed_page(url: str, depth: int, error: CrawlError) -> PageOutcome:
    """The outcome of a fetch that got no usable answer (after its retries); its error is
    :func:`failure_text`."""
    status = error.status if isinstance(error, FetchFailed) else None
    text = failure_text(url, error)
    return PageOutcome(url=url, final_url=url, depth=depth, status=status, ok=False, error=text)


def failure_text(url: str, error: CrawlError) -> str:
    """What a failed fetch of ``url`` met, for people: a refusal by the private-network
    guard names the URL, the guard's reason and how to allow it; any other error is its
    own message (the fetcher's name the URL)."""
    if isinstance(error, BlockedAddress):
        return f"{url} refused: {error}; {ALLOW_PRIVATE_HINT}"
    return str(error)


def page_outcome(
    url: str, depth: int, result: FetchResult, formats: Collection[str]
) -> PageOutcome:
    """A fetched page: OK when 2xx; only an OK HTML page is parsed (its body decoded by the
    Content-Type charset, else a <meta charset>, else UTF-8); other content is recorded."""
    ok = 200 <= result.status < 300
    content = _content(result, formats) if ok and is_html(result.content_type) else {}
    return PageOutcome(
        url=url, final_url=result.final_url, depth=depth, status=result.status, ok=ok,
        error=None if ok else f"HTTP {result.status}", content_type=result.content_type,
        duration_ms=result.duration_ms, bytes=result.bytes, cache_hit=result.cache_hit,
        truncated=result.truncated, **content,
    )  # fmt: skip


async def page_outcome_async(
    url: str, depth: int, result: FetchResult, formats: Collection[str]
) -> PageOutcome:
    """`page_outcome`, in a thread for a body over THREAD_EXTRACT_BYTES."""
    if len(result.body) > THREAD_EXTRACT_BYTES:
        return await asyncio.to_thread(page_outcome, url, depth, result, formats)
    return page_outcome(url, depth, result, formats)


def _content(result: FetchResult, formats: Collection[str]) -> dict[str, Any]:
    """The extracted fields of an OK HTML page (PageOutcome has each Extracted field)."""
    source = decode_html(result.body, result.content_type)
    return msgspec.structs.asdict(extract(source, result.final_url, formats))
