"""The fetcher against the live test site over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec
import pytest

from engine.crawl.errors import BlockedAddress, FetchFailed
from engine.crawl.fetcher import FetchSettings, fetch, is_html, make_session
from tests.sites.testsite import HUGE_BYTES, SiteHandle


class RecordingSleep:
    """Records requested delays; waits only a token amount so tests stay fast."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0.01)


async def test_ok_page(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    result = await fetch(session, site.url("/page/3"), settings)
    assert result.status == 200
    assert result.url == result.final_url == site.url("/page/3")
    assert not result.redirected and not result.truncated
    assert is_html(result.content_type)
    assert b"Page /page/3" in result.body
    assert result.bytes == len(result.body) > 0
    assert result.duration_ms >= 0


async def test_retry_after_is_honoured(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    sleep = RecordingSleep()
    result = await fetch(session, site.url("/ratelimited"), settings, sleep=sleep)
    assert result.status == 200
    assert sleep.delays == [1.0]
    assert site.requests.count("/ratelimited") == 2


async def test_retry_after_real_wait(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await fetch(session, site.url("/ratelimited"), settings)
    assert result.status == 200
    assert loop.time() - started >= 0.95


async def test_flaky_503_retried_to_success(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    sleep = RecordingSleep()
    result = await fetch(session, site.url("/flaky"), settings, sleep=sleep)
    assert result.status == 200
    assert len(sleep.delays) == 2
    # Exponential: attempt 0 waits up to base, attempt 1 up to 2 * base (with jitter >= 50%).
    assert 0.005 <= sleep.delays[0] <= 0.01 and 0.01 <= sleep.delays[1] <= 0.02
    assert site.requests.count("/flaky") == 3


async def test_retries_exhausted(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    sleep = RecordingSleep()
    few = msgspec.structs.replace(settings, retries=1)
    with pytest.raises(FetchFailed) as info:
        await fetch(session, site.url("/flaky"), few, sleep=sleep)
    assert info.value.permanent is False
    assert info.value.status == 503
    assert len(sleep.delays) == 1


async def test_404_is_a_result(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    sleep = RecordingSleep()
    result = await fetch(session, site.url("/missing/1"), settings, sleep=sleep)
    assert result.status == 404
    assert sleep.delays == []


async def test_redirect_followed(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    result = await fetch(session, site.url("/old"), settings)
    assert result.status == 200
    assert result.url == site.url("/old")
    assert result.final_url == site.url("/page/1")
    assert result.redirected
    assert site.requests[-2:] == ["/old", "/page/1"]


async def test_redirect_loop_is_permanent(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    sleep = RecordingSleep()
    with pytest.raises(FetchFailed, match="redirect loop") as info:
        await fetch(session, site.url("/loop/a"), settings, sleep=sleep)
    assert info.value.permanent
    assert sleep.delays == []


async def test_too_many_redirects(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    strict = msgspec.structs.replace(settings, max_redirects=0)
    with pytest.raises(FetchFailed, match="too many redirects") as info:
        await fetch(session, site.url("/old"), strict)
    assert info.value.permanent


async def test_huge_page_truncated(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    capped = msgspec.structs.replace(settings, max_bytes=1024 * 1024)
    result = await fetch(session, site.url("/huge"), capped)
    assert result.truncated
    assert len(result.body) == result.bytes == 1024 * 1024
    # The connection is usable afterwards (the unread rest was discarded).
    again = await fetch(session, site.url("/page/2"), capped)
    assert again.status == 200


async def test_huge_page_under_cap(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    result = await fetch(session, site.url("/huge"), settings)
    assert not result.truncated
    assert result.bytes > HUGE_BYTES
    assert result.body.endswith(b"</html>")


async def test_timeout_is_transient(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    sleep = RecordingSleep()
    quick = msgspec.structs.replace(settings, timeout_s=0.2, retries=1)
    with pytest.raises(FetchFailed, match="timeout") as info:
        await fetch(session, site.url("/slow"), quick, sleep=sleep)
    assert not info.value.permanent
    assert len(sleep.delays) == 1
    assert site.requests.count("/slow") == 2


async def test_connection_refused_is_transient(
    session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    sleep = RecordingSleep()
    two = msgspec.structs.replace(settings, retries=2)
    with pytest.raises(FetchFailed) as info:
        await fetch(session, "http://127.0.0.1:1/", two, sleep=sleep)
    assert not info.value.permanent
    assert len(sleep.delays) == 2


async def test_invalid_url_is_permanent(
    session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    with pytest.raises(FetchFailed) as info:
        await fetch(session, "http://exa mple.com/", settings)
    assert info.value.permanent


async def test_non_html_content_type(
    site: SiteHandle, session: aiohttp.ClientSession, settings: FetchSettings
) -> None:
    result = await fetch(session, site.url("/files/report.pdf"), settings)
    assert result.status == 200
    assert result.content_type == "application/pdf"
    assert not is_html(result.content_type)
    assert result.body.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("path", "expected", "header"),
    [
        ("/page/0", True, ("x-cache", "HIT")),
        ("/page/1", True, ("age", "30")),
        ("/page/2", False, ("x-cache", "MISS")),
        ("/page/3", None, None),
    ],
)
async def test_cache_headers(
    site: SiteHandle,
    session: aiohttp.ClientSession,
    settings: FetchSettings,
    path: str,
    expected: bool | None,
    header: tuple[str, str] | None,
) -> None:
    result = await fetch(session, site.url(path), settings)
    assert result.cache_hit is expected
    if header is not None:
        assert result.headers[header[0]] == header[1]
    assert "content-length" in result.headers


async def test_private_address_blocked(site: SiteHandle) -> None:
    guarded = FetchSettings()
    async with make_session(guarded) as client:
        with pytest.raises(BlockedAddress):
            await fetch(client, site.url("/page/1"), guarded)
        with pytest.raises(BlockedAddress):
            await fetch(client, f"http://localhost:{site.port}/page/1", guarded)
    assert site.requests == []


async def test_private_address_permitted_when_allowed(site: SiteHandle) -> None:
    permissive = FetchSettings(allow_private=True)
    async with make_session(permissive) as client:
        result = await fetch(client, f"http://localhost:{site.port}/page/1", permissive)
    assert result.status == 200
    assert site.requests == ["/page/1"]
