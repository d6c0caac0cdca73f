"""`GET /api/jobs/stream`: the dashboard's feed of every job the caller may see."""

from __future__ import annotations

from typing import Any

from cli.sse_client import SseEvent, sse_events
from tests.integration.streams.helpers import crawl
from tests.sites.testsite import SiteHandle
from tests.support import Client, Service


async def _feed_until(
    client: Client, done: set[str], *, last_id: int | None = None, params: Any = None
) -> list[SseEvent]:
    """Frames of the jobs feed until every job in `done` was seen ending (status >= 2)."""
    headers = {"Authorization": f"Bearer {client.token}"}
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    out: list[SseEvent] = []
    ended: set[str] = set()
    async with client.session.get(
        client.base + "/api/jobs/stream", headers=headers, params=params
    ) as resp:
        assert resp.status == 200
        async for frame in sse_events(resp):
            out.append(frame)
            if frame.event in ("status", "progress") and frame.data["status"] >= 2:
                ended.add(frame.data["id"])
            if done <= ended:
                return out
    raise AssertionError("the feed ended early")


async def test_the_feed_shows_a_users_own_jobs_move_to_the_end(
    working: Service, site: SiteHandle
) -> None:
    alice, bob = await working.add_user("alice"), await working.add_user("bob")
    bobs = await crawl(bob, site.base_url)
    first = await _feed_until(alice, set())  # the snapshot only, to learn where the feed starts
    assert first[0].event == "snapshot" and first[0].data["items"] == []
    alices = await crawl(alice, site.base_url)
    frames = await _feed_until(alice, {alices}, last_id=first[0].seq)
    ids = {f.data["id"] for f in frames if f.event in ("status", "progress")}
    assert ids == {alices}  # never Bob's job
    mine = [f.data for f in frames if f.event in ("status", "progress")]
    assert mine[-1]["status"] == 2 and mine[-1]["progress"]["percentage"] == 100.0
    seqs = [f.seq for f in frames]
    assert seqs == sorted(seqs)
    admin_frames = await _feed_until(working.admin, {alices, bobs}, last_id=first[0].seq)
    assert {f.data["id"] for f in admin_frames if f.event != "snapshot"} >= {alices, bobs}


async def test_the_feed_applies_the_list_filters(working: Service, site: SiteHandle) -> None:
    client = working.admin
    start = await _feed_until(client, set())
    batch_status, batch = await client.call(
        "POST", "/api/job/create/scrape", json={"urls": [site.base_url, site.base_url + "page/1"]}
    )
    assert batch_status == 201, batch
    frames = await _feed_until(client, {batch["id"]}, last_id=start[0].seq, params={"type": "51"})
    shown = [f.data for f in frames if f.event in ("status", "progress")]
    assert {d["id"] for d in shown} == {batch["id"]}
    last = shown[-1]
    assert (last["done"], last["failed"], last["total"]) == (2, 0, 2)  # counted in URLs
    children = await _feed_until(client, set(), params={"parent_job_id": batch["id"]})
    assert children[0].data["items"] == []  # a scrape batch is one job
