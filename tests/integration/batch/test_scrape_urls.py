"""`scrape_urls` against a live local site: each URL once, the bound held, resumes skipped."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.crawl.batch import BatchSummary, scrape_urls
from engine.crawl.fetcher import FetchSettings, make_session
from engine.crawl.models import PageOutcome
from tests.integration.batch.site import BatchSite, serve_batch_site
from tests.support import wait_until

FETCH = FetchSettings(allow_private=True, backoff_base_s=0.01, timeout_s=10.0)
paths = st.one_of(
    st.integers(0, 30).map(lambda n: f"/p/{n}"), st.integers(0, 3).map(lambda n: f"/missing/{n}")
)


async def _scrape(
    paths: list[str], done: set[str], concurrency: int
) -> tuple[BatchSite, list[PageOutcome], BatchSummary]:
    pages: list[PageOutcome] = []

    async def on_page(page: PageOutcome) -> None:
        pages.append(page)

    async with serve_batch_site() as site, make_session(FETCH) as session:
        urls = [site.url(p) for p in paths]
        summary = await scrape_urls(
            session, FETCH, urls, {"markdown", "links"}, on_page=on_page,
            concurrency=concurrency, already_done={site.url(p) for p in done},
        )  # fmt: skip
    return site, pages, summary


@settings(max_examples=25)
@given(st.lists(paths, max_size=40), st.sets(paths, max_size=10), st.integers(1, 8))
def test_each_url_not_done_is_fetched_and_reported_once_within_the_bound(
    listed: list[str], done: set[str], concurrency: int
) -> None:
    site, pages, summary = asyncio.run(_scrape(listed, done, concurrency))
    todo = [p for p in dict.fromkeys(listed) if p not in done]
    assert sorted(site.path(page.url) for page in pages) == sorted(todo)
    assert site.log == todo if concurrency == 1 else sorted(site.log) == sorted(todo)
    assert site.most_at_once <= concurrency
    ok = [p for p in todo if p.startswith("/p/")]
    assert (summary.fetched, summary.ok, summary.stopped) == (len(todo), len(ok), False)
    assert all(page.ok == (site.path(page.url) in ok) for page in pages)


async def test_a_batch_keeps_its_whole_bound_in_flight_and_no_more(batch_site: BatchSite) -> None:
    """Held answers: `concurrency` fetches wait at the site, and no other starts meanwhile."""
    urls = [batch_site.url(f"/hold/{n}") for n in range(20)]
    pages: list[PageOutcome] = []

    async def on_page(page: PageOutcome) -> None:
        pages.append(page)

    async with make_session(FETCH) as session:
        run = asyncio.ensure_future(
            scrape_urls(session, FETCH, urls, {"markdown"}, on_page=on_page, concurrency=8)
        )
        await wait_until(lambda: batch_site.held == 8)
        assert batch_site.log == [batch_site.path(u) for u in urls[:8]] and pages == []
        batch_site.release_all()
        summary = await run
    assert (summary.fetched, summary.ok) == (20, 20) and batch_site.most_at_once == 8
    assert sorted(p.url for p in pages) == sorted(urls)


async def test_a_stop_cancels_the_fetches_in_flight_and_reports_none(
    batch_site: BatchSite,
) -> None:
    urls = [batch_site.url("/p/1"), *(batch_site.url(f"/hold/{n}") for n in range(4))]
    pages: list[PageOutcome] = []
    stop = asyncio.Event()

    async def on_page(page: PageOutcome) -> None:
        pages.append(page)

    async with make_session(FETCH) as session:
        run = asyncio.ensure_future(
            scrape_urls(session, FETCH, urls, {"markdown"}, on_page=on_page, concurrency=2,
                        should_stop=stop.is_set)
        )  # fmt: skip
        await wait_until(lambda: batch_site.held == 2 and len(pages) == 1)
        stop.set()
        summary = await run
    assert (summary.fetched, summary.ok, summary.stopped) == (1, 1, True)
    assert [p.url for p in pages] == urls[:1]
    await wait_until(lambda: sorted(batch_site.cancelled) == ["/hold/0", "/hold/1"])
    assert sorted(batch_site.log) == ["/hold/0", "/hold/1", "/p/1"]
