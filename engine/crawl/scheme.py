"""The scheme of a crawl started from a bare domain: https, or http when https cannot connect.

A domain typed without a scheme (`example.com`, `127.0.0.1:8765`) is crawled from
`https://<domain>/`. When nothing answers HTTP over https there (a refused connection, a
TLS handshake that fails because the port speaks plain HTTP, a timeout) and a plain http
request to the same host and port gets an answer, the crawl starts from `http://<domain>/`.
An https server that answers, even with an error status, is kept: only a connection that
cannot be made falls back, and a refused address (the private-network guard) or a name that
does not resolve is reported by the crawl itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import aiohttp
import msgspec

from engine.crawl.errors import CrawlError, FetchFailed
from engine.crawl.fetcher import FetchSettings, fetch

_PROBE_PATH = "/robots.txt"  # fetched next by most crawls anyway; small when it exists
_PROBE_BYTES = 4096


class StartUrl(msgspec.Struct, frozen=True, kw_only=True):
    """The URL to crawl from, and why it is not the one asked for (None when it is)."""

    url: str
    note: str | None = None


async def _answers(session: aiohttp.ClientSession, url: str, settings: FetchSettings) -> str | None:
    """None when a server at `url`'s origin answers HTTP (any status); else why it could not
    be reached. One attempt, no retries: this only asks whether the scheme is spoken."""
    parts = urlsplit(url)
    probe = urlunsplit((parts.scheme, parts.netloc, _PROBE_PATH, "", ""))
    once = msgspec.structs.replace(settings, retries=0, max_bytes=_PROBE_BYTES)
    try:
        await fetch(session, probe, once)
    except FetchFailed as e:
        if e.permanent or e.status is not None:
            return None  # an answer, or a failure the other scheme would meet as well
        return str(e)
    except CrawlError:
        return None  # e.g. a refused address: the crawl reports it with its own words
    return None


async def start_url(session: aiohttp.ClientSession, url: str, settings: FetchSettings) -> StartUrl:
    """`url` (an https URL made from a bare domain), or its http twin when https cannot
    connect and http answers; `note` then says what https met, for the job's log."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return StartUrl(url=url)
    failure = await _answers(session, url, settings)
    if failure is None:
        return StartUrl(url=url)
    plain = urlunsplit(("http", *parts[1:]))
    if await _answers(session, plain, settings) is not None:
        return StartUrl(url=url)  # neither answers: the crawl reports https's failure
    note = f"https could not connect ({failure}); crawling {plain} instead"
    return StartUrl(url=plain, note=note)
