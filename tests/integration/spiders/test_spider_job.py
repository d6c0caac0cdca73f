"""SPIDER jobs against the local shop: the exact item set, pages, robots, cancel, replay."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from engine.domain.events import ItemScraped, LogWritten
from tests.integration.api.helpers import engine, log_of
from tests.integration.spiders.helpers import create_spider_job, logged_items, logged_pages
from tests.sites.shop import PRIVATE_PATH, ShopHandle, item_key, serve_shop
from tests.support import Service, finished


@pytest.fixture
async def shop() -> AsyncIterator[ShopHandle]:
    async with serve_shop(60, per_page=20, seed=5) as handle:
        yield handle


async def test_a_spider_job_scrapes_the_exact_item_set(working: Service, shop: ShopHandle) -> None:
    job = await create_spider_job(working, shop.start_url)
    job = await finished(working.admin, job["id"], timeout=60)
    assert job["status"] == 2, job

    expected = Counter(item_key(i) for i in shop.expected_items())
    assert await logged_items(working, job["id"]) == expected
    ok, failed = shop.expected_pages()
    pages = await logged_pages(working, job["id"])
    assert pages == Counter({**{(u, True): 1 for u in ok}, **{(u, False): 1 for u in failed}})
    assert shop.requested(PRIVATE_PATH) == 0  # robots.txt disallows it

    state = await engine(working).store.load(job["id"])
    assert state is not None and state.items == sum(expected.values())
    logs = [
        s.event.message for s in await log_of(working, job["id"]) if isinstance(s.event, LogWritten)
    ]
    assert any(f"{shop.shop.dropped()} dropped" in m for m in logs), logs


async def test_items_are_indexed_in_page_order(working: Service, shop: ShopHandle) -> None:
    job = await create_spider_job(working, shop.url("/list/"))
    job = await finished(working.admin, job["id"], timeout=60)
    assert job["status"] == 2, job
    events = [s.event for s in await log_of(working, job["id"]) if isinstance(s.event, ItemScraped)]
    assert [(e.index, e.data) for e in events] == [
        (i, {"name": n}) for i, n in enumerate(shop.shop.list_names())
    ]
