"""crawl_site against the live test site; ground truth comes from the site model."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

import aiohttp
import msgspec
import pytest
from aiohttp import web

from engine.crawl.crawler import crawl_site
from engine.crawl.fetcher import FetchSettings, make_session
from engine.crawl.models import CrawlOptions, CrawlSummary, PageOutcome
from tests.sites.testsite import Expectation, SiteHandle
from tests.support import serve_app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorder:
    """Collects what crawl_site reports."""

    pages: list[PageOutcome] = field(default_factory=list)
    skips: list[tuple[str, str]] = field(default_factory=list)

    async def on_page(self, page: PageOutcome) -> None:
        self.pages.append(page)

    async def on_skip(self, url: str, reason: str) -> None:
        self.skips.append((url, reason))

    @property
    def ok(self) -> set[str]:
        return {p.url for p in self.pages if p.ok}

    @property
    def failed(self) -> set[str]:
        return {p.url for p in self.pages if not p.ok}

    def by_url(self) -> dict[str, PageOutcome]:
        return {p.url: p for p in self.pages}


async def run(
    session: aiohttp.ClientSession,
    settings: FetchSettings,
    options: CrawlOptions,
    *,
    already_done: Collection[str] = frozenset(),
    already_links: Mapping[str, list[str]] | None = None,
) -> tuple[Recorder, CrawlSummary]:
    rec = Recorder()
    summary = await crawl_site(
        session,
        settings,
        options,
        on_page=rec.on_page,
        on_skip=rec.on_skip,
        already_done=already_done,
        already_links=already_links,
    )
    return rec, summary


def assert_matches(rec: Recorder, expected: Expectation) -> None:
    urls = [p.url for p in rec.pages]
    duplicates = [u for u, n in Counter(urls).items() if n > 1]
    assert duplicates == [], "URLs reported more than once"
    assert rec.ok == expected.ok
    assert rec.failed == expected.failed
    assert len(rec.skips) == len(set(rec.skips)), "skips reported more than once"
    assert dict(rec.skips) == expected.skipped


@pytest.fixture
def crawl_settings(settings: FetchSettings) -> FetchSettings:
    return msgspec.structs.replace(settings, max_bytes=1024 * 1024)


async def test_full_crawl_matches_ground_truth(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    rec, summary = await run(session, crawl_settings, CrawlOptions(url=site.base_url))
    assert_matches(rec, site.expected)
    assert summary.pages == len(rec.pages) and summary.ok == len(site.expected.ok)
    assert summary.failed == len(site.expected.failed)
    assert summary.skipped == len(site.expected.skipped) and not summary.stopped
    # Robots-disallowed and never-linked pages were never requested.
    assert not any(p.startswith(("/private/", "/hidden/")) for p in site.requests)
    assert set(site.expected.skipped.values()) == {"robots", "out_of_scope"}


async def test_page_outcome_details(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    options = CrawlOptions(url=site.base_url, formats={"markdown", "links", "text"})
    rec, _ = await run(session, crawl_settings, options)
    pages = rec.by_url()
    home = pages[site.url("/")]
    assert (home.title, home.description, home.depth) == ("Home", "Description of /", 0)
    assert home.markdown is not None and "# Home" in home.markdown
    assert home.text is not None and home.html is None
    assert site.url("/page/0") in home.links and "http://other.localhost:1/" in home.links
    old = pages[site.url("/old")]
    assert (old.final_url, old.status, old.ok) == (site.url("/page/1"), 200, True)
    pdf = pages[site.url("/files/report.pdf")]
    assert (pdf.content_type, pdf.markdown, pdf.links) == ("application/pdf", None, [])
    huge = pages[site.url("/huge")]
    assert huge.truncated and huge.bytes == 1024 * 1024 and huge.ok
    loop = pages[site.url("/loop/a")]
    assert not loop.ok and loop.error is not None and "redirect loop" in loop.error
    missing = next(p for u, p in pages.items() if "/missing/" in u)
    assert (missing.status, missing.error) == (404, "HTTP 404")
    assert pages[site.url("/page/0")].cache_hit is True
    assert pages[site.url("/page/3")].cache_hit is None
    assert pages[site.url("/ratelimited")].ok and pages[site.url("/flaky")].ok


async def test_max_pages_limits_fetches(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    rec, summary = await run(session, crawl_settings, CrawlOptions(url=site.base_url, max_pages=10))
    assert len(rec.pages) == summary.pages == 10
    assert len(site.page_requests()) == 10
    assert set(site.page_requests()) == {urlsplit(p.url).path for p in rec.pages}


async def test_max_depth_is_exact(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    options = CrawlOptions(url=site.base_url, max_depth=4)
    rec, _ = await run(session, crawl_settings, options)
    expected = site.expectation(max_depth=4)
    assert "depth" in expected.skipped.values()
    assert_matches(rec, expected)
    assert {p.url: p.depth for p in rec.pages} == expected.depth
    # /chain/3 is 4 hops away along the chain but 2 via the slow page.
    assert expected.depth[site.url("/chain/3")] == 2
    assert expected.skipped[site.url("/chain/6")] == "depth"
    assert "/chain/6" not in site.requests


async def test_resume_fetches_only_the_rest(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    first, _ = await run(session, crawl_settings, CrawlOptions(url=site.base_url))
    done_pages = sorted(u for u in first.ok if "/page/" in u and u != site.url("/page/1"))[::2]
    done = set(done_pages)
    links = {p.url: p.links for p in first.pages if p.url in done}
    mark = len(site.requests)
    second, summary = await run(
        session,
        crawl_settings,
        CrawlOptions(url=site.base_url),
        already_done=done,
        already_links=links,
    )
    assert not {p.url for p in second.pages} & done
    assert second.ok | done == site.expected.ok
    assert second.failed == site.expected.failed
    assert dict(second.skips) == site.expected.skipped
    requested = set(site.requests[mark:])
    assert not requested & {urlsplit(u).path for u in done}
    assert summary.pages == len(site.expected.ok) + len(site.expected.failed) - len(done)


async def test_resume_counts_against_max_pages(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    done = {site.url("/"), site.url("/page/0"), site.url("/page/3")}
    rec, _ = await run(
        session, crawl_settings, CrawlOptions(url=site.base_url, max_pages=5), already_done=done
    )
    assert len(rec.pages) == 2
    assert not {p.url for p in rec.pages} & done


async def test_should_stop_is_prompt(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    loop = asyncio.get_running_loop()
    rec = Recorder()
    stop_at: list[float] = []

    def should_stop() -> bool:
        if len(rec.pages) >= 5 and not stop_at:
            stop_at.append(loop.time())
        return bool(stop_at)

    # A 50 ms per-host delay makes the full crawl take several seconds.
    options = CrawlOptions(url=site.base_url, delay_ms=50, concurrency=4)
    summary = await crawl_site(
        session,
        crawl_settings,
        options,
        on_page=rec.on_page,
        on_skip=rec.on_skip,
        should_stop=should_stop,
    )
    assert summary.stopped
    assert loop.time() - stop_at[0] < 1.0
    assert 5 <= len(rec.pages) < len(site.expected.ok)


async def test_callback_error_aborts_crawl(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    seen: list[str] = []

    async def on_page(page: PageOutcome) -> None:
        seen.append(page.url)
        if len(seen) == 3:
            raise RuntimeError("projection down")

    async def on_skip(url: str, reason: str) -> None:
        return None

    with pytest.raises(RuntimeError, match="projection down"):
        await crawl_site(
            session,
            crawl_settings,
            CrawlOptions(url=site.base_url),
            on_page=on_page,
            on_skip=on_skip,
        )
    assert len(seen) < 10


async def test_include_and_exclude_paths(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    options = CrawlOptions(url=site.base_url, include_paths=["/page/*"], exclude_paths=["/page/1*"])
    rec, _ = await run(session, crawl_settings, options)
    paths = {urlsplit(p.url).path for p in rec.pages} - {"/"}
    assert paths and all(fnmatchcase(p, "/page/*") for p in paths)
    assert not any(fnmatchcase(p, "/page/1*") for p in paths)
    excluded = {u for u, r in rec.skips if r == "excluded"}
    assert site.url("/page/1") in excluded and site.url("/old") in excluded


async def test_ignoring_robots_fetches_private_pages(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    options = CrawlOptions(url=site.base_url, respect_robots=False)
    rec, _ = await run(session, crawl_settings, options)
    assert site.url("/private/area") in rec.ok and site.url("/private/secret") in rec.ok
    assert "robots" not in {r for _, r in rec.skips}


async def test_links_and_sitemap_can_be_disabled(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    options = CrawlOptions(url=site.base_url, use_sitemap=False, find_links=False)
    rec, summary = await run(session, crawl_settings, options)
    assert [p.url for p in rec.pages] == [site.base_url]
    assert summary.sitemap_urls == 0
    assert site.page_requests() == ["/"]


async def test_private_root_reported_as_failed(site: SiteHandle) -> None:
    guarded = FetchSettings()
    async with make_session(guarded) as client:
        rec, summary = await run(client, guarded, CrawlOptions(url=site.base_url))
    assert summary.pages == 1 and summary.ok == 0
    assert rec.pages[0].error is not None and "not public" in rec.pages[0].error
    assert site.requests == []


# -- small purpose-built sites ---------------------------------------------------


@contextlib.asynccontextmanager
async def _serve(routes: dict[str, Callable[[web.Request], web.Response]]) -> AsyncIterator[str]:
    """Serve ``routes`` (sync handlers) on 127.0.0.1; yields the origin."""

    def wrap(func: Callable[[web.Request], web.Response]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return func(request)

        return handle

    app = web.Application()
    for path, func in routes.items():
        app.router.add_get(path, wrap(func))
    async with serve_app(app) as origin:
        yield origin


def _html(body: str) -> Callable[[web.Request], web.Response]:
    return lambda _r: web.Response(
        text=f"<html><body>{body}</body></html>", content_type="text/html"
    )


async def test_sitemap_xml_fallback(
    session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    def sitemap(request: web.Request) -> web.Response:
        locs = "".join(
            f"<url><loc>http://{request.host}/only-in-sitemap/{i}</loc></url>" for i in range(3)
        )
        return web.Response(text=f"<urlset>{locs}</urlset>", content_type="application/xml")

    routes = {"/": _html("no links"), "/sitemap.xml": sitemap, "/only-in-sitemap/{n}": _html("x")}
    async with _serve(routes) as origin:
        rec, summary = await run(session, crawl_settings, CrawlOptions(url=origin))
        assert summary.sitemap_urls == 3
        assert rec.ok == {origin + "/", *(f"{origin}/only-in-sitemap/{i}" for i in range(3))}


async def test_robots_5xx_disallows_everything(
    session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    routes = {
        "/robots.txt": lambda _r: web.Response(status=503),
        "/": _html('<a href="/a">a</a>'),
    }
    async with _serve(routes) as origin:
        rec, _ = await run(session, crawl_settings, CrawlOptions(url=origin, use_sitemap=False))
        assert rec.pages == []
        assert rec.skips == [(origin + "/", "robots")]


async def test_delay_ms_paces_requests(
    site: SiteHandle, session: aiohttp.ClientSession, crawl_settings: FetchSettings
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    options = CrawlOptions(url=site.base_url, max_pages=6, delay_ms=100, use_sitemap=False)
    rec, _ = await run(session, crawl_settings, options)
    assert len(rec.pages) == 6
    # Six requests to one host need at least five gaps of 100 ms.
    assert loop.time() - started >= 0.5
