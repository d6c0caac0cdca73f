"""GET /api/job/{id}/events: the job's history in log order, paginated, consistent."""

from __future__ import annotations

import asyncio

from engine.domain.envelope import event_envelope
from engine.domain.events import LogWritten
from tests.integration.api.helpers import (
    NOVEL,
    create,
    engine,
    events,
    finish,
    list_all,
    log_of,
    start,
)
from tests.support import Service, get_job


async def test_events_are_the_log_in_order(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user, NOVEL, url="https://example.com/a")
    await start(api, job["id"])
    assert (await user.call("POST", f"/api/job/{job['id']}/cancel")) == (200, True)
    await finish(api, job["id"], ok=True)  # after a cancel request, finishing cancels

    items = await events(user, job["id"])
    log = await log_of(api, job["id"])
    assert [e["sequence"] for e in items] == [s.seq for s in log]
    assert [e["kind"] for e in items] == ["created", "started", "cancel_requested", "canceled"]
    assert [e["time"] for e in items] == [s.event.at for s in log]
    assert [e["actor"] for e in items] == [s.event.actor for s in log]
    assert all(set(e) == {"sequence", "kind", "time", "actor", "data"} for e in items)
    created, started, _, canceled = items
    assert created["actor"] == job["user_id"]
    params = {"url": "https://example.com/a", "full": False, "source": "novelfull"}
    assert created["data"]["params"] == params
    assert created["data"]["user_id"] == job["user_id"]
    assert created["time"] == job["created_at"]
    assert started["data"] == {"worker_id": "w1", "attempt": 1}
    assert canceled["data"] == {"reason": "canceled while running"}
    # envelope fields are not repeated inside data
    assert not {"event_id", "job_id", "at", "actor", "kind"} & set(created["data"])
    final = await get_job(user, job["id"])
    assert final["status"] == 4
    assert final["finished_at"] == canceled["time"]
    assert final["updated_at"] == canceled["time"]


async def test_events_are_paginated(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    store = engine(api).store
    for i in range(7):
        event = LogWritten(**event_envelope(job["id"], "w"), message=f"line {i}")
        seq = await store.append_unchecked(event)
    await api.runtime.projector.wait_for(seq)
    everything = await events(user, job["id"])
    assert len(everything) == 8
    seen = []
    for offset in range(0, 10, 3):
        status, page = await user.call(
            "GET", f"/api/job/{job['id']}/events", params={"offset": offset, "limit": 3}
        )
        assert status == 200
        assert (page["total"], page["offset"], page["limit"]) == (8, offset, 3)
        assert page["items"] == everything[offset : offset + 3]
        seen += page["items"]
    assert seen == everything
    status, page = await user.call("GET", f"/api/job/{job['id']}/events")
    assert (page["offset"], page["limit"], page["total"]) == (0, 20, 8)
    assert [e["data"].get("message") for e in page["items"][1:]] == [f"line {i}" for i in range(7)]


async def test_reads_stay_consistent_while_the_log_grows(api: Service) -> None:
    """`total` and `items` of one response come from one state of the read model, and
    concurrent reads never make a create miss its own write (it once answered 404)."""
    user = await api.add_user("u")
    job = await create(user)
    store = engine(api).store

    async def append_logs() -> None:
        for i in range(150):
            event = LogWritten(**event_envelope(job["id"], "w"), message=str(i))
            await store.append_unchecked(event)

    async def create_jobs() -> None:
        for i in range(40):
            await create(user, NOVEL, url=f"https://example.com/{i}")

    torn: list[tuple[str, int, int]] = []

    async def read(writers: asyncio.Future[object]) -> None:
        while not writers.done():
            for path in (f"/api/job/{job['id']}/events", "/api/jobs"):
                status, page = await user.call("GET", path, params={"limit": 100})
                assert status == 200, page
                if len(page["items"]) != min(page["total"], 100):
                    torn.append((path, page["total"], len(page["items"])))

    writers = asyncio.gather(append_logs(), create_jobs())
    await asyncio.gather(read(writers), read(writers), writers)
    assert torn == []
    assert len(await list_all(user)) == 41
