"""SPIDER jobs against the local shop: the exact item set, pages, robots, cancel, replay."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from engine.domain.events import Codec, ItemScraped, LogWritten
from engine.domain.model import JobType
from engine.domain.state import JobState
from projections.items import items_after, items_page
from projections.projector import rebuild
from projections.queries import get_job, table_dump
from projections.schema import open_db
from tests.integration.api.helpers import create_directly, engine, log_of
from tests.integration.spiders.helpers import (
    create_spider_job,
    logged_items,
    logged_pages,
    spider_params,
)
from tests.integration.streams.helpers import stream
from tests.integration.work.helpers import wait_work_empty
from tests.sites.shop import (
    BROKEN_PATH,
    PRIVATE_PATH,
    ShopHandle,
    item_key,
    load_definition,
    serve_shop,
)
from tests.support import Service, finished, shows_status, wait_until


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
    assert f"{shop.url(PRIVATE_PATH)} skipped: robots.txt disallows it" in logs
    assert any("1 URL skipped (robots.txt disallows)" in m for m in logs), logs


async def test_items_are_indexed_in_page_order(working: Service, shop: ShopHandle) -> None:
    job = await create_spider_job(working, shop.url("/list/"))
    job = await finished(working.admin, job["id"], timeout=60)
    assert job["status"] == 2, job
    events = [s.event for s in await log_of(working, job["id"]) if isinstance(s.event, ItemScraped)]
    assert [(e.index, e.data) for e in events] == [
        (i, {"name": n}) for i, n in enumerate(shop.shop.list_names())
    ]


async def test_items_stream_live_as_item_frames(working: Service, shop: ShopHandle) -> None:
    job = await create_spider_job(working, shop.start_url)
    frames = await stream(working.admin, f"/api/job/{job['id']}/stream")
    assert frames[-1].event == "done" and frames[-1].data["status"] == 2
    items = [f for f in frames if f.event == "item"]
    got = Counter(item_key(f.data) for f in items)
    assert got == Counter(item_key(i) for i in shop.expected_items())
    logged = [s.seq for s in await log_of(working, job["id"]) if isinstance(s.event, ItemScraped)]
    snapshot = frames[0].seq
    assert [f.seq for f in items] == [seq for seq in logged if seq > snapshot]
    progress = [f.data for f in frames if f.event == "progress"]
    assert progress[-1]["items"] == sum(got.values())


async def test_the_read_model_holds_the_items_and_a_rebuild_gives_the_same_tables(
    working: Service, shop: ShopHandle, nats_url: str, tmp_path: Path
) -> None:
    job = await create_spider_job(working, shop.start_url)
    job = await finished(working.admin, job["id"], timeout=60)
    db = working.runtime.jobs.db
    total, rows = await items_page(db, job["id"], 0, 1000)
    logged = [(s.seq, s.event) for s in await log_of(working, job["id"])]
    items = [(seq, e.url, e.index, e.data) for seq, e in logged if isinstance(e, ItemScraped)]
    assert [(r.seq, r.url, r.index, r.data) for r in rows] == items and total == len(items)
    after = await items_after(db, job["id"], rows[9].seq, 5)
    assert after == rows[10:15]
    row = await get_job(db, job["id"], None)
    assert row is not None and (row.items_scraped, row.spider_id, row.spider_name) == (
        total, "sp-shop", "shop",
    )  # fmt: skip

    fresh = await open_db(tmp_path / "rebuilt.db")
    try:
        await rebuild(fresh, working.runtime.nc, Codec())
        live, rebuilt = await table_dump(db), await table_dump(fresh)
        assert rebuilt["items"] == live["items"] and len(live["items"]) == total
        mine = [[r for r in dump["jobs"] if r[0] == job["id"]] for dump in (live, rebuilt)]
        assert len(mine[0]) == 1 and len(mine[1]) == 1
        (live_row,), (rebuilt_row,) = mine
        assert live_row[:-1] == rebuilt_row[:-1]  # the columns; then the state, its sets unordered
        states = [msgspec.json.decode(r[-1], type=JobState) for r in (live_row, rebuilt_row)]
        assert states[0] == states[1] and states[0].items == total
    finally:
        await fresh.close()


async def test_cancel_stops_a_spider_within_a_second_and_keeps_its_items(
    working: Service, shop: ShopHandle
) -> None:
    job = await create_spider_job(working, shop.start_url, concurrency=1, delay_ms=100)
    store = engine(working).store

    async def some_items() -> bool:
        state = await store.load(job["id"])
        return state is not None and state.items >= 3

    await wait_until(some_items, timeout=30)
    status, body = await working.admin.call("POST", f"/api/job/{job['id']}/cancel")
    assert status == 200, body
    await wait_until(lambda: shows_status(working.admin, job["id"], 4), timeout=3)
    state = await store.load(job["id"])
    assert state is not None and state.status == 4
    requested = len(shop.access)
    expected = Counter(item_key(i) for i in shop.expected_items())
    got = await logged_items(working, job["id"])
    assert sum(got.values()) == state.items and not got - expected  # a subset, none twice
    pages = await logged_pages(working, job["id"])
    assert set(pages.values()) == {1} and len(pages) < 60
    await wait_work_empty(working.runtime.nc)
    assert len(shop.access) == requested  # nothing fetched after the cancel


async def test_a_replay_runs_the_definition_snapshot_in_its_params(
    working: Service, shop: ShopHandle
) -> None:
    only_list = load_definition()
    only_list["rules"] = [
        {"match": "/list/", "items": {"each": "article.row", "fields": {"h": "h2"}}}
    ]
    job = await create_spider_job(working, shop.url("/list/"), definition=only_list)
    job = await finished(working.admin, job["id"], timeout=60)
    status, again = await working.admin.call("POST", f"/api/job/{job['id']}/replay")
    assert status == 201, again
    again = await finished(working.admin, again["id"], timeout=60)
    replayed = await engine(working).store.load(again["id"])
    assert again["status"] == 2 and replayed is not None
    assert replayed.params["definition"] == only_list
    first, second = await logged_items(working, job["id"]), await logged_items(working, again["id"])
    assert first == second and sum(first.values()) == len(shop.shop.list_names())
    assert shop.requested("/list/") == 2


async def test_a_spider_that_fetches_nothing_fails_naming_the_cause(
    working: Service, shop: ShopHandle
) -> None:
    broken = shop.url(BROKEN_PATH)
    job = await create_spider_job(working, broken)
    job = await finished(working.admin, job["id"], timeout=60)
    assert (job["status"], job["error"]) == (
        3,
        f"no page was fetched; the first error: {broken}: HTTP 404",
    )
    bad = await create_directly(
        working, working.admin, JobType.SPIDER, {**spider_params(shop.start_url), "concurrency": 0}
    )
    bad = await finished(working.admin, bad["id"], timeout=60)
    assert bad["status"] == 3 and bad["error"].startswith("invalid spider parameters:"), bad
    assert "concurrency" in bad["error"]


async def test_max_pages_bounds_the_pages_and_robots_can_be_ignored(
    working: Service, shop: ShopHandle
) -> None:
    capped = await create_spider_job(working, shop.start_url, max_pages=7, concurrency=3)
    capped = await finished(working.admin, capped["id"], timeout=60)
    assert capped["status"] == 2, capped
    pages = await logged_pages(working, capped["id"])
    assert sum(pages.values()) == 7 and set(pages.values()) == {1}
    assert (shop.url("/catalogue/page-1.html"), True) in pages

    rude = await create_spider_job(working, shop.start_url, respect_robots=False)
    rude = await finished(working.admin, rude["id"], timeout=60)
    assert rude["status"] == 2, rude
    assert shop.requested(PRIVATE_PATH) == 1
    assert (shop.url(PRIVATE_PATH), True) in await logged_pages(working, rude["id"])
    # The clearance page matches no rule: fetched, it yields nothing.
    assert await logged_items(working, rude["id"]) == Counter(
        item_key(i) for i in shop.expected_items()
    )
