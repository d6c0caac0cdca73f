"""One-URL scrapes stored in one append, and the group writer gathering several jobs' writes
into atomic batches, against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

from engine.domain.commands import CreateJob, FinishJob, StartJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope
from engine.domain.events import AnyEvent, Codec
from engine.domain.state import fold
from engine.jetstream.batching import GroupWriter, job_messages
from engine.jetstream.errors import ConcurrencyConflict
from engine.jetstream.store import EventStore
from engine.service import new_id
from tests.integration.work.helpers import HoldSite, results
from tests.support import Service, finished, shows_status, wait_until

RUNNING, SUCCESS = 1, 2


@pytest.fixture
async def store(nc: NATS) -> AsyncIterator[EventStore]:
    store = EventStore(nc, Codec())
    await store.ensure()
    yield store


async def created_job(store: EventStore) -> tuple[list[AnyEvent], int]:
    """A new job in the log, and its start and end decided on it (not appended)."""
    job_id = new_id()
    create = CreateJob(**command_envelope(job_id, "u"), user_id="u", type=50, priority=1)
    [event] = decide(None, create)
    seq = await store.append([event], expected=0)
    state = fold([(seq, event)])
    start = decide(state, StartJob(**command_envelope(job_id, "w"), worker_id="w"))
    running = fold([(seq + 1, start[0])], state)
    end = decide(running, FinishJob(**command_envelope(job_id, "w"), ok=True))
    return [*start, *end], seq


async def write(
    group: GroupWriter, store: EventStore, events: list[AnyEvent], expected: int
) -> int:
    messages = job_messages(store.codec, events, expected)
    return await group.write(events[0].job_id, messages, lambda: store.append(events, expected))


async def test_several_jobs_writes_share_a_batch_each_told_its_last_sequence(
    nc: NATS, store: EventStore
) -> None:
    jobs = [await created_job(store) for _ in range(12)]
    group = GroupWriter(nc, in_flight=1)
    seqs = await asyncio.gather(*(write(group, store, ev, exp) for ev, exp in jobs))
    assert 1 <= group.batches < len(jobs)  # written in the same loop turn: gathered
    for (events, _), last in zip(jobs, seqs, strict=True):
        history = await store.history(events[0].job_id)
        assert [s.event for s in history[1:]] == events  # each stored once, in order
        assert history[-1].seq == last


async def test_a_write_whose_job_changed_fails_alone_the_others_are_stored(
    nc: NATS, store: EventStore
) -> None:
    jobs = [await created_job(store) for _ in range(4)]
    stale_events, stale_at = jobs[1]
    await store.append([stale_events[0]], expected=stale_at)  # the job moved on meanwhile
    group = GroupWriter(nc, in_flight=1)
    outcomes = await asyncio.gather(
        *(write(group, store, ev, exp) for ev, exp in jobs),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ConcurrencyConflict)
    assert group.batches == 0  # refused whole, then each alone
    for (events, _), last in zip([jobs[0], *jobs[2:]], [outcomes[0], *outcomes[2:]], strict=True):
        history = await store.history(events[0].job_id)
        assert [s.event for s in history[1:]] == events and history[-1].seq == last
    assert len(await store.history(stale_events[0].job_id)) == 2  # its start, once


async def test_a_quick_scrape_is_started_recorded_and_ended_in_one_append(
    working: Service, hold_site: HoldSite
) -> None:
    url = hold_site.url("/a")
    _, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
    job = await finished(working.admin, job["id"])
    assert job["status"] == SUCCESS and (job["done"], job["failed"]) == (1, 0)
    _, events = await working.admin.call("GET", f"/api/job/{job['id']}/events")
    kinds = [e["kind"] for e in events["items"]]
    assert kinds == ["created", "started", "page", "progress", "succeeded"], kinds
    seqs = [e["sequence"] for e in events["items"][1:]]
    assert seqs == list(range(seqs[0], seqs[0] + 4))  # one atomic append: nothing between
    [page] = await results(working.admin, job["id"])
    assert page["url"] == url and page["ok"] and page["scraped_at"] >= job["started_at"]


async def test_a_slow_scrape_shows_running_then_records_its_page_once(
    working: Service, hold_site: HoldSite
) -> None:
    url = hold_site.url("/hold/7")
    _, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
    await wait_until(lambda: hold_site.hits["/hold/7"] == 1)
    await wait_until(lambda: shows_status(working.admin, job["id"], RUNNING))
    hold_site.release("/hold/7")
    job = await finished(working.admin, job["id"])
    assert job["status"] == SUCCESS and (job["done"], job["failed"]) == (1, 0), job
    _, events = await working.admin.call("GET", f"/api/job/{job['id']}/events")
    kinds = [e["kind"] for e in events["items"]]
    assert kinds[:2] == ["created", "started"] and kinds[-1] == "succeeded", kinds
    assert kinds.count("page") == 1 and kinds.count("started") == 1
    assert [p["url"] for p in await results(working.admin, job["id"])] == [url]
