"""GET /api/events: the log as audit records, paged by sequence, filtered, per user."""

from __future__ import annotations

from typing import Any

from engine.domain.envelope import event_envelope
from engine.domain.events import LogWritten, kind_of, to_builtins
from tests.integration.api.helpers import (
    NOVEL,
    assert_error,
    create,
    engine,
    log_of,
    start,
)
from tests.support import Client, Service, shows_status, wait_until


async def _log_lines(svc: Service, job_id: str, n: int) -> int:
    store = engine(svc).store
    seq = 0
    for i in range(n):
        line = LogWritten(**event_envelope(job_id, "w"), message=str(i))
        seq = await store.append_unchecked(line)
    await svc.runtime.projector.wait_for(seq)
    return seq


async def _page(client: Client, **params: Any) -> dict[str, Any]:
    status, page = await client.call("GET", "/api/events", params=params)
    assert status == 200, page
    assert set(page) == {"items", "next_seq", "has_more"}
    assert isinstance(page, dict)
    return page


async def _all(client: Client, **params: Any) -> list[dict[str, Any]]:
    """Every matching record, following `next_seq` while `has_more`."""
    items: list[dict[str, Any]] = []
    page = await _page(client, **params)
    while True:
        items += page["items"]
        if not page["has_more"]:
            return items
        assert page["next_seq"] == page["items"][-1]["seq"] + 1
        page = await _page(client, **{**params, "from_seq": page["next_seq"]})


async def _records(svc: Service, *job_ids: str) -> list[dict[str, Any]]:
    """The jobs' events as JetStream holds them, as audit records, in log order."""
    stored = [s for job_id in job_ids for s in await log_of(svc, job_id)]
    return [
        {"seq": s.seq, "job_id": s.event.job_id, "kind": kind_of(s.event), "at": s.event.at,
         "actor": s.event.actor, "data": to_builtins(s.event)}
        for s in sorted(stored, key=lambda s: s.seq)
    ]  # fmt: skip


async def test_paging_walks_the_whole_log_in_order(api: Service) -> None:
    user = await api.add_user("u")
    urls = ["https://example.com/1", "https://example.com/2"]
    a, b = await create(user), await create(user, NOVEL, urls=urls)  # a batch of two
    await _log_lines(api, a["id"], 7)
    # the dispatcher spawns the batch's children, then starts the batch: its last event
    await wait_until(lambda: shows_status(user, b["id"], 1))
    everything = await _all(api.admin, limit=1000)
    children = sorted({r["job_id"] for r in everything} - {a["id"], b["id"]})
    assert len(children) == 2
    assert everything == await _records(api, a["id"], b["id"], *children)
    for size in (1, 3, 5):
        assert await _all(api.admin, limit=size) == everything
    page = await _page(api.admin, limit=3)
    assert (len(page["items"]), page["has_more"]) == (3, True)
    last = await _page(api.admin, from_seq=everything[-1]["seq"], limit=3)
    assert (last["items"], last["has_more"]) == ([everything[-1]], False)
    # past the end: nothing yet, and next_seq says where to poll from
    beyond = everything[-1]["seq"] + 1
    assert await _page(api.admin, from_seq=beyond) == {
        "items": [], "next_seq": beyond, "has_more": False,
    }  # fmt: skip


async def test_default_page_is_100_and_at_most_1000(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    await _log_lines(api, job["id"], 120)
    page = await _page(user)
    assert (len(page["items"]), page["has_more"]) == (100, True)
    page = await _page(user, limit=1000)
    assert (len(page["items"]), page["has_more"]) == (121, False)


async def test_filters_by_job_kind_and_start(api: Service) -> None:
    user = await api.add_user("u")
    a, b = await create(user), await create(user, NOVEL, url="https://example.com/b")
    await start(api, a["id"])
    await _log_lines(api, a["id"], 3)
    await _log_lines(api, b["id"], 2)
    records = await _records(api, a["id"], b["id"])
    assert await _all(user, job_id=a["id"]) == [r for r in records if r["job_id"] == a["id"]]
    assert await _all(user, kind="log") == [r for r in records if r["kind"] == "log"]
    assert await _all(user, kind="started") == [r for r in records if r["kind"] == "started"]
    both = await _all(user, job_id=b["id"], kind="log", limit=1)
    assert both == [r for r in records if r["job_id"] == b["id"] and r["kind"] == "log"]
    middle = records[3]["seq"]
    assert await _all(user, from_seq=middle, limit=2) == [r for r in records if r["seq"] >= middle]
    assert await _all(user, kind="purged") == []


async def test_users_see_their_own_jobs_and_admins_everything(api: Service) -> None:
    alice, bob = await api.add_user("alice"), await api.add_user("bob")
    mine, theirs = await create(alice), await create(bob)
    gone = await create(alice, NOVEL, url="https://example.com/gone")
    assert await alice.call("DELETE", f"/api/job/{gone['id']}") == (200, True)

    assert await _all(alice) == await _records(api, mine["id"])
    assert await _all(bob) == await _records(api, theirs["id"])
    status, error = await bob.call("GET", "/api/events", params={"job_id": mine["id"]})
    assert_error(status, error, 404)
    for job_id in (gone["id"], "nope"):
        status, error = await alice.call("GET", "/api/events", params={"job_id": job_id})
        assert_error(status, error, 404)
    # deleted jobs keep their history for admins
    assert await _all(api.admin) == await _records(api, mine["id"], theirs["id"], gone["id"])
    kinds = [r["kind"] for r in await _all(api.admin, job_id=gone["id"])]
    assert kinds == ["created", "canceled", "deleted"]
    status, page = await api.admin.call("GET", f"/api/job/{gone['id']}/events")
    assert status == 200 and [e["kind"] for e in page["items"]] == kinds
    status, error = await alice.call("GET", "/api/events", headers={"Authorization": "Bearer x"})
    assert_error(status, error, 401)


async def test_bad_queries_are_422_naming_the_field(api: Service) -> None:
    user = await api.add_user("u")
    for params, field in (
        ({"kind": "exploded"}, "kind"),
        ({"kind": ""}, "kind"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"from_seq": "-1"}, "from_seq"),
        ({"from_seq": "1e3"}, "from_seq"),
    ):
        status, error = await user.call("GET", "/api/events", params=params)
        assert_error(status, error, 422, field)
    status, error = await user.call("GET", "/api/events", params={"kind": "nope"})
    assert "created" in error["detail"] and "purged" in error["detail"]
