"""A SPIDER job whose worker processes are SIGKILLed mid-crawl: the next attempt resumes from
the log, and in the end every item is logged exactly once, every page once."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.domain.envelope import event_envelope
from engine.domain.events import ItemScraped, JobStarted
from engine.domain.state import JobState
from engine.jetstream.store import EventStore
from tests.integration.api.helpers import engine, log_of
from tests.integration.spiders.helpers import create_spider_job, logged_items, logged_pages
from tests.integration.work.helpers import WorkerProcesses, kill
from tests.sites.shop import ShopHandle, item_key, serve_shop
from tests.support import Service, finished, stopped, wait_until


@pytest.fixture
async def shop() -> AsyncIterator[ShopHandle]:
    async with serve_shop(120, per_page=20, seed=11) as handle:
        yield handle


async def _reached(store: EventStore, job_id: str, attempt: int, items: int) -> JobState:
    """Wait until attempt `attempt` runs and the job holds `items` items in all."""
    state: JobState | None = None

    async def there() -> bool:
        nonlocal state
        state = await store.load(job_id)
        return state is not None and state.attempts == attempt and state.items >= items

    await wait_until(there, timeout=30, interval=0.01)
    assert state is not None
    return state


async def test_a_spider_survives_its_workers_being_killed(
    queue_only: Service, shop: ShopHandle, nats_url: str, tmp_path: Path
) -> None:
    store = engine(queue_only).store
    expected = Counter(item_key(i) for i in shop.expected_items())
    workers = WorkerProcesses(nats_url, tmp_path / "logs")
    try:
        job = await create_spider_job(queue_only, shop.start_url, concurrency=3, delay_ms=5)
        marks: list[tuple[int, set[str]]] = []  # at each kill: requests so far, pages logged
        for attempt, items in enumerate((10, 40, 80), start=1):
            proc = await workers.start("--concurrency", "2")
            await _reached(store, job["id"], attempt, items)
            await kill(proc)
            state = await store.load(job["id"])
            assert state is not None and not state.is_done
            assert state.items < sum(expected.values()), "killed too late to matter"
            marks.append((len(shop.access), set(state.ok_urls | state.failed_urls)))
        last = await workers.start("--concurrency", "2")
        job = await finished(queue_only.admin, job["id"], timeout=60)
        assert job["status"] == 2, (job, workers.log(3))

        assert await logged_items(queue_only, job["id"]) == expected  # none lost, none twice
        ok, failed = shop.expected_pages()
        pages = await logged_pages(queue_only, job["id"])
        assert pages == Counter({**{(u, True): 1 for u in ok}, **{(u, False): 1 for u in failed}})
        history = [s.event for s in await log_of(queue_only, job["id"])]
        starts = [e.attempt for e in history if isinstance(e, JobStarted)]
        assert starts == [1, 2, 3, 4]
        # A page in the log when a worker died was never fetched again.
        for mark, logged in marks:
            later = {shop.origin + path for path in shop.access[mark:]}
            assert logged and not logged & later
        assert sum(1 for e in history if isinstance(e, ItemScraped)) == sum(expected.values())
        final = await store.load(job["id"])
        assert final is not None and final.items == sum(expected.values())
        assert await stopped(last, 10) == 0
    finally:
        await workers.close()


async def test_items_logged_without_their_page_are_not_logged_again(
    queue_only: Service, shop: ShopHandle, nats_url: str, tmp_path: Path
) -> None:
    """What a worker leaves when it dies between a page's items and its page event: the
    next run fetches the page again and logs only the items the log lacks."""
    store = engine(queue_only).store
    list_url = shop.url("/list/")
    job = await create_spider_job(queue_only, list_url)
    names = shop.shop.list_names()
    for index in range(5):
        envelope = event_envelope(job["id"], "dead-worker")
        await store.append_unchecked(
            ItemScraped(**envelope, url=list_url, index=index, data={"name": names[index]})
        )
    workers = WorkerProcesses(nats_url, tmp_path / "logs")
    try:
        last = await workers.start("--concurrency", "2")
        job = await finished(queue_only.admin, job["id"], timeout=60)
        assert job["status"] == 2, (job, workers.log(0))
        history = [s.event for s in await log_of(queue_only, job["id"])]
        items = [(e.index, e.data["name"]) for e in history if isinstance(e, ItemScraped)]
        assert sorted(items, key=lambda i: i[0]) == list(enumerate(names))
        assert shop.requested("/list/") == 1
        assert await stopped(last, 10) == 0
    finally:
        await workers.close()
