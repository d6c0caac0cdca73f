"""The private-network guard against a loopback canary that must receive nothing: a scrape
fetch, a crawl, redirects (each hop), robots.txt and sitemaps, for every disguise of
127.0.0.1.

Each refusal test has a control beside it that differs only in the policy: with private
networks allowed, the same disguises (and the same redirects and sitemap lines) do reach the
canary, so a canary left at zero means the guard stopped them, not that they led nowhere.
Redirects start from an "allowed place": a server on 127.0.0.2 that the policy admits by
itself (allow_networks 127.0.0.2/32), while the canary on 127.0.0.1 stays private.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import msgspec
import pytest
from aiohttp import web

from engine.crawl.crawler import crawl_site
from engine.crawl.discovery import load_robots
from engine.crawl.errors import BlockedAddress
from engine.crawl.fetcher import FetchSettings, fetch, make_session
from engine.crawl.models import CrawlOptions, CrawlSummary, PageOutcome
from engine.crawl.pages import fetch_page
from tests.integration.canary import DISGUISES, Canary, serve_canary, serve_on

STRICT = FetchSettings(retries=0, timeout_s=10.0)
PERMISSIVE = msgspec.structs.replace(STRICT, allow_private=True)
ALLOWED_PLACE = "127.0.0.2"
NARROW = msgspec.structs.replace(STRICT, allow_networks=(f"{ALLOWED_PLACE}/32",))
REDIRECTS = (301, 302, 303, 307, 308)


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    async with serve_canary() as c:
        yield c


class AllowedPlace:
    """A site on 127.0.0.2: `/to/<i>` redirects to disguise i of the canary, `/home` to
    `/final`; its robots.txt names a sitemap at every disguise of the canary."""

    def __init__(self, canary: Canary) -> None:
        self.canary = canary
        self.port = 0
        self.hits: Counter[str] = Counter()

    @property
    def origin(self) -> str:
        return f"http://{ALLOWED_PLACE}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._get)
        return app

    async def _get(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        if request.path.startswith("/to/"):
            i = int(request.path.removeprefix("/to/"))
            target = self.canary.origin(DISGUISES[i]) + "/redirected"
            return _redirect(REDIRECTS[i % len(REDIRECTS)], target)
        if request.path == "/home":
            return _redirect(302, "/final")
        if request.path == "/robots.txt":
            lines = [f"Sitemap: {self.canary.origin(d)}/sitemap.xml" for d in DISGUISES]
            return web.Response(text="User-agent: *\nAllow: /\n" + "\n".join(lines))
        return web.Response(text="<html><body>allowed</body></html>", content_type="text/html")


def _redirect(status: int, location: str) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


@pytest.fixture
async def place(canary: Canary) -> AsyncIterator[AllowedPlace]:
    site = AllowedPlace(canary)
    async with serve_on(site.app(), ALLOWED_PLACE) as port:
        site.port = port
        yield site


# -- plain fetches, as a scrape job makes them ------------------------------------------


async def test_control_every_disguise_reaches_the_canary_when_private_is_allowed(
    canary: Canary,
) -> None:
    async with make_session(PERMISSIVE) as session:
        for host in DISGUISES:
            result = await fetch(session, canary.origin(host) + "/page", PERMISSIVE)
            assert result.status == 200, host
    assert len(canary.hits) == len(DISGUISES)


async def test_a_scrape_fetch_of_any_disguise_is_refused(canary: Canary) -> None:
    async with make_session(STRICT) as session:
        for host in DISGUISES:
            url = canary.origin(host) + "/page"
            with pytest.raises(BlockedAddress, match="public"):
                await fetch(session, url, STRICT)
            page = await fetch_page(session, url, 0, STRICT, {"markdown"})
            assert not page.ok and page.status is None, host
            assert page.error is not None and "public" in page.error, page.error
    assert canary.hits == []


async def test_a_session_without_the_guard_is_refused(canary: Canary) -> None:
    """A session made for other settings (here: private allowed) cannot be used to fetch
    under a strict policy, so a name cannot slip past an unguarded resolver."""
    async with make_session(PERMISSIVE) as session:
        with pytest.raises(BlockedAddress, match="guard"):
            await fetch(session, canary.origin("localhost") + "/", STRICT)
    assert canary.hits == []


# -- crawls ------------------------------------------------------------------------------


async def _crawl(settings: FetchSettings, root: str) -> tuple[list[PageOutcome], CrawlSummary]:
    pages: list[PageOutcome] = []

    async def on_page(page: PageOutcome) -> None:
        pages.append(page)

    async def on_skip(_url: str, _reason: str) -> None:
        return None

    async with make_session(settings) as session:
        summary = await crawl_site(
            session, settings, CrawlOptions(url=root, max_pages=5), on_page=on_page,
            on_skip=on_skip,
        )  # fmt: skip
    return pages, summary


async def test_a_crawl_rooted_at_any_disguise_fetches_nothing(canary: Canary) -> None:
    """robots.txt, /sitemap.xml and the root page are all refused; the root is reported
    failed, naming the refusal."""
    for host in DISGUISES:
        pages, summary = await _crawl(STRICT, canary.origin(host) + "/")
        assert (summary.pages, summary.ok, summary.sitemap_urls) == (1, 0, 0), host
        assert pages[0].error is not None and "public" in pages[0].error, pages[0]
    assert canary.hits == []


# -- redirects, from the allowed place ---------------------------------------------------


async def test_control_redirects_are_followed_from_the_allowed_place(
    place: AllowedPlace, canary: Canary
) -> None:
    async with make_session(NARROW) as session:
        result = await fetch(session, place.origin + "/home", NARROW)
    assert (result.status, result.redirected) == (200, True)
    assert result.final_url == place.origin + "/final"
    async with make_session(PERMISSIVE) as session:
        for i in range(len(DISGUISES)):
            result = await fetch(session, f"{place.origin}/to/{i}", PERMISSIVE)
            assert result.status == 200 and result.redirected, DISGUISES[i]
    assert len(canary.hits) == len(DISGUISES)


async def test_a_redirect_to_any_disguise_is_refused_at_that_hop(
    place: AllowedPlace, canary: Canary
) -> None:
    async with make_session(NARROW) as session:
        for i, host in enumerate(DISGUISES):
            with pytest.raises(BlockedAddress, match="public"):
                await fetch(session, f"{place.origin}/to/{i}", NARROW)
            assert place.hits[f"/to/{i}"] == 1, host  # the first hop was made
    assert canary.hits == []


# -- robots.txt and sitemaps ---------------------------------------------------------------


async def test_control_sitemaps_named_by_robots_reach_the_canary_when_private_is_allowed(
    place: AllowedPlace, canary: Canary
) -> None:
    _, summary = await _crawl(PERMISSIVE, place.origin + "/")
    assert summary.ok >= 1
    assert len([h for h in canary.hits if "/sitemap.xml" in h]) == len(DISGUISES)


async def test_sitemaps_named_by_robots_at_any_disguise_are_refused(
    place: AllowedPlace, canary: Canary
) -> None:
    pages, summary = await _crawl(NARROW, place.origin + "/")
    assert place.hits["/robots.txt"] == 1
    assert [p.url for p in pages if p.ok] == [place.origin + "/"]
    assert summary.sitemap_urls == 0
    assert canary.hits == []


async def test_robots_txt_of_any_disguise_is_refused(canary: Canary) -> None:
    async with make_session(STRICT) as session:
        for host in DISGUISES:
            origin = canary.origin(host)
            with pytest.raises(BlockedAddress, match="public"):
                await fetch(session, origin + "/robots.txt", STRICT)
            policy = await load_robots(session, origin, STRICT)
            assert policy.allowed(origin + "/x"), host  # refused robots: pages decide
    assert canary.hits == []
