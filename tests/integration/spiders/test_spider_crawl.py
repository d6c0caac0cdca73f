"""The spider's crawl loop against the local shop: every page once, and a resumed run, given
any set of pages an earlier run recorded (with their links), fetches exactly the others."""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.crawl.fetcher import FetchSettings, make_session
from engine.crawl.models import PageOutcome
from engine.spiders.crawl import CrawlPlan, SpiderCrawl
from engine.spiders.extract import PageYield
from engine.spiders.model import parse_definition
from tests.sites.shop import ShopHandle, load_definition, serve_shop

SETTINGS = FetchSettings(allow_private=True, retries=0)
Pages = dict[str, tuple[PageOutcome, PageYield]]


async def _crawl(shop: ShopHandle, done: set[str], links: dict[str, list[str]]) -> Pages:
    seen: list[tuple[PageOutcome, PageYield]] = []

    async def on_page(page: PageOutcome, found: PageYield) -> None:
        seen.append((page, found))

    async def on_skip(url: str, reason: str) -> None:
        assert reason == "robots"

    plan = CrawlPlan(start=[shop.start_url], concurrency=4)
    async with make_session(SETTINGS) as session:
        d = parse_definition(load_definition())
        crawl = SpiderCrawl(session, SETTINGS, d, plan, on_page=on_page, on_skip=on_skip,
                            should_stop=lambda: False)  # fmt: skip
        await crawl.run(done, links)
    urls = Counter(page.url for page, _ in seen)
    assert set(urls.values()) <= {1}, urls  # each page reported once
    return {page.url: (page, found) for page, found in seen}


async def _reference_and_resumed(picks: list[bool]) -> tuple[Pages, set[str], Pages]:
    async with serve_shop(45, per_page=10, seed=2) as shop:
        everything = await _crawl(shop, set(), {})
        ok, failed = shop.expected_pages()
        assert set(everything) == ok | failed
        urls = sorted(everything)
        done = {u for u, pick in zip(urls, picks, strict=False) if pick}
        links = {u: everything[u][0].links for u in done if everything[u][0].ok}
        return everything, done, await _crawl(shop, done, links)


@settings(max_examples=12)
@given(st.lists(st.booleans(), min_size=60, max_size=60))
def test_a_resumed_run_fetches_exactly_the_pages_not_recorded(picks: list[bool]) -> None:
    everything, done, resumed = asyncio.run(_reference_and_resumed(picks))
    assert set(resumed) == set(everything) - done
    for url, (page, found) in resumed.items():
        assert found == everything[url][1]  # the same items and links as the first time
        assert page.ok == everything[url][0].ok


async def test_pages_that_follow_links_are_fetched_before_pages_that_only_yield_items() -> None:
    order: list[str] = []

    async def on_page(page: PageOutcome, found: PageYield) -> None:
        order.append(page.url.rsplit("/", 2)[-2] + "/" + page.url.rsplit("/", 1)[-1])

    async def on_skip(url: str, reason: str) -> None:
        return None

    async with serve_shop(45, per_page=10, seed=2) as shop, make_session(SETTINGS) as session:
        plan = CrawlPlan(start=[shop.start_url], concurrency=1)
        d = parse_definition(load_definition())
        crawl = SpiderCrawl(session, SETTINGS, d, plan, on_page=on_page, on_skip=on_skip,
                            should_stop=lambda: False)  # fmt: skip
        await crawl.run(set(), {})
    assert order[:5] == [f"catalogue/page-{n}.html" for n in range(1, 6)]
    assert len(order) == 52 and order[5:8] == [f"catalogue/product-{n}.html" for n in (1, 2, 3)]
