"""HTTP fetching with redirects, size caps, retries and the private-address guard.

Every hop (the first request and each redirect) goes through
:func:`engine.net.netguard.guard_url`, and sessions from :func:`make_session` resolve names
through the guard's resolver; :func:`fetch` refuses a session made any other way.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import aiohttp
import msgspec
from yarl import URL

from engine.crawl.errors import FetchFailed, InvalidUrl
from engine.crawl.urls import normalize_url
from engine.net.netguard import GuardedConnector, NetPolicy, guard_url, require_guarded
from engine.net.retry import parse_retry_after, transient_status

Sleep = Callable[[float], Awaitable[None]]
# told of each fetch attempt: its status (None: no response), body bytes and seconds taken
FetchObserver = Callable[[int | None, int, float], None]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_KEEP_METHOD = frozenset({307, 308})  # other redirects of a POST are followed with a GET
_KEPT_HEADERS = ("x-cache", "cf-cache-status", "age", "retry-after", "content-length")
_CHUNK = 64 * 1024


class FetchSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Limits and identity for fetching; the defaults suit public web crawling."""

    timeout_s: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 10
    retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    user_agent: str = "jobstream/0.1 (+https://github.com/jobstream)"
    allow_private: bool = False
    # CIDR networks allowed although not public (e.g. one intranet host), when allow_private
    # is off; empty by default.
    allow_networks: tuple[str, ...] = ()
    # e.g. the process's metrics (engine/metrics.py); not part of any stored record
    observe: FetchObserver | None = None

    @property
    def net_policy(self) -> NetPolicy:
        """Which addresses fetches may connect to."""
        return _policy(self.allow_private, self.allow_networks)


@functools.lru_cache(maxsize=64)  # asked for at every hop; settings are few and frozen
def _policy(allow_private: bool, allow_networks: tuple[str, ...]) -> NetPolicy:
    return NetPolicy(allow_private=allow_private, allow_networks=allow_networks)


@functools.lru_cache(maxsize=64)  # the same few totals for every request
def _timeout(total_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total_s)


class FetchResult(msgspec.Struct, frozen=True, kw_only=True):
    """One HTTP response after redirects. ``bytes`` is len(body) as read (after any cap)."""

    url: str
    final_url: str
    status: int
    content_type: str | None
    headers: dict[str, str]
    body: bytes
    truncated: bool
    duration_ms: int
    bytes: int
    redirected: bool
    cache_hit: bool | None


def make_session(settings: FetchSettings) -> aiohttp.ClientSession:
    """Create a ClientSession wired to the private-network guard; call inside a running loop.

    Its connector is a :class:`GuardedConnector` with ``settings.net_policy``. The caller
    owns the session and must close it.
    """
    connector = GuardedConnector(
        policy=settings.net_policy,
        limit=200,
        limit_per_host=32,
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": settings.user_agent},
        timeout=_timeout(settings.timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


def is_html(content_type: str | None) -> bool:
    """Whether a Content-Type header denotes an HTML document."""
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime in ("text/html", "application/xhtml+xml")


def cache_hit_from(headers: dict[str, str]) -> bool | None:
    """HIT detection from X-Cache, CF-Cache-Status and Age; None when none is present."""
    x_cache, cf, age = headers.get("x-cache"), headers.get("cf-cache-status"), headers.get("age")
    if x_cache is None and cf is None and age is None:
        return None
    hit = "HIT" in (x_cache or "").upper() or (cf or "").strip().upper() == "HIT"
    return hit or (age is not None and age.strip().isdigit() and int(age.strip()) > 0)


def backoff_delay(attempt: int, settings: FetchSettings, retry_after: float | None) -> float:
    """Delay before retry ``attempt`` (0-based): Retry-After if given, else jittered exponential.

    Both are capped at ``backoff_max_s``. Jitter spreads the exponential delay over
    [50%, 100%] so many workers do not retry in lock-step.
    """
    if retry_after is not None:
        return min(retry_after, settings.backoff_max_s)
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * (2.0**attempt))
    return ceiling * random.uniform(0.5, 1.0)


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    settings: FetchSettings,
    *,
    sleep: Sleep = asyncio.sleep,
    form: Sequence[tuple[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResult:
    """GET ``url`` following redirects, retrying transient failures.

    With ``form``, the request is a POST of it (``application/x-www-form-urlencoded``); a
    307 or 308 redirect repeats the POST, any other is followed with a GET, as browsers do.
    ``headers`` (e.g. a Referer) go with every hop and attempt, besides the User-Agent.

    Returns the response for every status except transient ones (429, 5xx), which
    are retried up to ``settings.retries`` times, honouring Retry-After; 4xx
    come back as results. Raises FetchFailed(permanent=False) when retries run
    out (status set when the last attempt got a response), FetchFailed(permanent=True)
    for redirect loops, too many redirects and invalid URLs (a malformed host too), and
    BlockedAddress when a hop targets an address ``settings.net_policy`` does not permit
    (whatever spelling of it the URL uses), or when ``session`` was not made by
    :func:`make_session` with that policy. The
    body is read up to ``max_bytes`` (``truncated`` tells whether more was sent);
    ``duration_ms`` covers the last attempt including its redirects.
    """
    for attempt in range(settings.retries + 1):
        last = attempt == settings.retries
        try:
            result = await _observed(session, url, settings, form, headers)
        except FetchFailed as e:
            if e.permanent or last:
                raise
            await sleep(backoff_delay(attempt, settings, None))
            continue
        if not transient_status(result.status):
            return result
        if last:
            raise FetchFailed(
                f"HTTP {result.status} after {attempt + 1} attempts",
                permanent=False,
                status=result.status,
            )
        await sleep(
            backoff_delay(attempt, settings, parse_retry_after(result.headers.get("retry-after")))
        )
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


async def _observed(
    session: aiohttp.ClientSession,
    url: str,
    settings: FetchSettings,
    form: Sequence[tuple[str, str]] | None,
    headers: Mapping[str, str] | None,
) -> FetchResult:
    """One attempt (`_fetch_following`), told to ``settings.observe`` whatever its end."""
    if settings.observe is None:
        return await _fetch_following(session, url, settings, form, headers)
    started = time.monotonic()
    try:
        result = await _fetch_following(session, url, settings, form, headers)
    except FetchFailed:
        settings.observe(None, 0, time.monotonic() - started)
        raise
    settings.observe(result.status, result.bytes, result.duration_ms / 1000)
    return result


async def _fetch_following(
    session: aiohttp.ClientSession,
    url: str,
    settings: FetchSettings,
    form: Sequence[tuple[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResult:
    started = time.monotonic()
    current, visited = url, {url}
    sent = {**(headers or {}), "User-Agent": settings.user_agent}
    for _ in range(settings.max_redirects + 1):
        status, location, result = await _request(session, current, settings, form, sent)
        if result is not None:
            elapsed = int((time.monotonic() - started) * 1000)
            return msgspec.structs.replace(
                result, url=url, redirected=current != url, duration_ms=elapsed
            )
        target = _redirect_target(current, location, status)
        if target in visited:
            raise FetchFailed(
                f"redirect loop: {current} -> {target}", permanent=True, status=status
            )
        visited.add(target)
        current = target
        form = form if status in _KEEP_METHOD else None
    raise FetchFailed(
        f"too many redirects (more than {settings.max_redirects}) from {url}", permanent=True
    )


def _redirect_target(current: str, location: str, status: int) -> str:
    target = normalize_url(location, current)
    if target is None:
        raise FetchFailed(
            f"redirect to unsupported URL {location!r}", permanent=True, status=status
        )
    return target


async def _request(
    session: aiohttp.ClientSession,
    url: str,
    settings: FetchSettings,
    form: Sequence[tuple[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str, FetchResult | None]:
    """One hop (a POST of ``form`` if given, else a GET) sending ``headers`` (default: the
    User-Agent): (status, Location, None) for a redirect, else (status, "", result)."""
    try:
        policy = settings.net_policy
        target = guard_url(URL(url, encoded=False), policy)
        require_guarded(session, policy)
        async with session.request(
            "GET" if form is None else "POST",
            target,
            data=None if form is None else list(form),
            allow_redirects=False,
            timeout=_timeout(settings.timeout_s),
            headers=headers or {"User-Agent": settings.user_agent},
        ) as resp:
            location = resp.headers.get("Location")
            if resp.status in _REDIRECTS and location:
                return resp.status, location, None
            return resp.status, "", await _read_result(resp, url, settings.max_bytes)
    except (aiohttp.ClientError, OSError, ValueError, InvalidUrl) as e:
        # TimeoutError is an OSError; BlockedAddress (from guard_url or the resolver) is
        # not caught here and reaches the caller unchanged.
        raise _translate(e, url) from e


def _translate(error: Exception, url: str) -> FetchFailed:
    if isinstance(error, ValueError | aiohttp.InvalidURL | InvalidUrl):
        return FetchFailed(f"invalid URL {url}: {error}", permanent=True)
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return FetchFailed(f"DNS lookup failed for {url}: {error}", permanent=True)
    if isinstance(error, TimeoutError):
        return FetchFailed(f"timeout fetching {url}", permanent=False)
    return FetchFailed(f"{type(error).__name__} fetching {url}: {error}", permanent=False)


async def _read_result(resp: aiohttp.ClientResponse, url: str, max_bytes: int) -> FetchResult:
    body, truncated = await _read_capped(resp, max_bytes)
    headers = {k: resp.headers[k] for k in _KEPT_HEADERS if k in resp.headers}
    return FetchResult(
        url=url,
        final_url=url,
        status=resp.status,
        content_type=resp.headers.get("Content-Type"),
        headers=headers,
        body=body,
        truncated=truncated,
        duration_ms=0,
        bytes=len(body),
        redirected=False,
        cache_hit=cache_hit_from(headers),
    )


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> tuple[bytes, bool]:
    if _whole_within(resp, max_bytes):
        return await resp.read(), False
    # Chunks are joined once at the end (a single chunk is not copied at all).
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            # Stop reading: the connection is released without draining the rest.
            chunks.append(chunk[: len(chunk) - (size - max_bytes)])
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


def _whole_within(resp: aiohttp.ClientResponse, max_bytes: int) -> bool:
    """Whether the body is read whole within ``max_bytes`` at once: a plain Content-Length
    body (aiohttp reads no more than it says) of at most that many bytes. A compressed
    body's length is not its decoded size, and a chunked one has none: both are read in
    chunks, counted as they come."""
    length = resp.content_length
    headers = resp.headers
    plain = "Content-Encoding" not in headers and "Transfer-Encoding" not in headers
    return plain and length is not None and length <= max_bytes
