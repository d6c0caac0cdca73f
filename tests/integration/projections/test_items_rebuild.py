"""Spider items in the read model: a rebuild equals the live tables for any log of SPIDER jobs
applied in any batches (redelivered after restarts); the item reads page through them."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from engine.domain.envelope import event_envelope
from engine.domain.events import AnyEvent, ItemScraped, JobCreated, JobPurged, PageRecorded
from engine.domain.model import JobType
from projections.apply import apply_batch
from projections.items import items_after, items_page
from projections.queries import JobFilter, list_jobs, table_dump
from projections.schema import open_db, read_checkpoint

JOBS = [str(ULID.from_int(i << 80)) for i in range(1, 4)]
Log = list[tuple[int, AnyEvent]]


def _created(i: int, job: str) -> AnyEvent:
    spider = {"id": f"sp{i % 2}", "name": f"spider-{i % 2}", "version": 1}
    job_type = JobType.SPIDER if i < 2 else JobType.CRAWL  # the last job is no spider
    return JobCreated(**event_envelope(job, "u1", at=1_000 + i), user_id="u1", type=job_type,
                      priority=1, params={"spider": spider, "definition": {}})  # fmt: skip


def _event(kind: str, job: str, arg: int, at: int) -> AnyEvent:
    env = event_envelope(job, "w", at=at)
    url = f"https://shop.test/p/{arg % 4}"
    if kind == "item":
        return ItemScraped(
            **env, url=url, index=arg % 3, data={"n": arg, "tags": ["a"] * (arg % 2)}
        )
    if kind == "page":
        return PageRecorded(**env, url=url, ok=arg % 5 != 0, status=200)
    return JobPurged(**env)


steps = st.lists(
    st.tuples(st.sampled_from(["item", "item", "item", "page", "purge"]),
              st.integers(0, len(JOBS) - 1), st.integers(0, 20)),
    max_size=40,
)  # fmt: skip


def history(raw: list[tuple[str, int, int]]) -> Log:
    log = [_created(i, job) for i, job in enumerate(JOBS)]
    log += [_event(kind, JOBS[j], arg, 2_000 + n) for n, (kind, j, arg) in enumerate(raw)]
    return list(enumerate(log, start=1))


async def _apply(path: Path, log: Log, cuts: list[int], restarts: set[int]) -> Any:
    bounds = [0, *sorted(set(cuts)), len(log)]
    db = await open_db(path)
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if hi <= lo:
            continue
        if i in restarts:
            await db.close()
            db = await open_db(path)
            again = [s for s in log[:lo] if s[0] > await read_checkpoint(db) - 3]
            if again:
                await apply_batch(db, again)
        await apply_batch(db, log[lo:hi])
    dump = await table_dump(db)
    await db.close()
    return dump


@settings(max_examples=40)
@given(steps, st.lists(st.integers(0, 45), max_size=6), st.sets(st.integers(0, 6), max_size=3))
def test_rebuild_equals_live(
    raw: list[tuple[str, int, int]], cuts: list[int], restarts: set[int]
) -> None:
    log = history(raw)
    cuts = [c for c in cuts if 0 < c < len(log)]
    with tempfile.TemporaryDirectory() as tmp:
        live = asyncio.run(_apply(Path(tmp) / "live.db", log, cuts, restarts))
        rebuilt = asyncio.run(_apply(Path(tmp) / "rebuilt.db", log, [], set()))
    assert live == rebuilt
    purged = {e.job_id for _, e in log if isinstance(e, JobPurged)}
    expected = [
        (seq, e.job_id, e.url, e.index)
        for seq, e in log
        if isinstance(e, ItemScraped) and e.job_id not in purged
    ]
    assert [row[:4] for row in live["items"]] == expected


async def test_items_are_read_in_log_order_by_page_and_after_a_cursor(tmp_path: Path) -> None:
    raw = [("item", 0, n) for n in range(7)] + [("item", 1, 100)]
    log = history(raw)
    db = await open_db(tmp_path / "rm.db")
    try:
        await apply_batch(db, log)
        total, rows = await items_page(db, JOBS[0], 2, 3)
        assert total == 7 and [r.data["n"] for r in rows] == [2, 3, 4]
        everything = await items_after(db, JOBS[0], 0, 100)
        assert [r.data["n"] for r in everything] == list(range(7))
        rest = await items_after(db, JOBS[0], everything[4].seq, 100)
        assert [r.data["n"] for r in rest] == [5, 6]
        assert (rest[0].url, rest[0].index) == ("https://shop.test/p/1", 2)
        _, jobs = await list_jobs(db, JobFilter(viewer="u1", spider_id="sp0"), 0, 10)
        assert [(j.id, j.items_scraped, j.spider_name) for j in jobs] == [(JOBS[0], 7, "spider-0")]
        _, crawl = await list_jobs(db, JobFilter(viewer="u1", type=int(JobType.CRAWL)), 0, 10)
        assert [(j.items_scraped, j.spider_id) for j in crawl] == [(0, None)]
    finally:
        await db.close()
