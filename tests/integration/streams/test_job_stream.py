"""`GET /api/job/{id}/stream` over real HTTP: snapshot, ordered events, `done`, and resume."""

from __future__ import annotations

import asyncio

from tests.integration.streams.helpers import crawl, expected_frames, log_of, one_for_one, stream
from tests.sites.testsite import SiteHandle
from tests.support import Service, finished, wait_until


async def test_snapshot_then_every_event_in_log_order_then_done(
    working: Service, site: SiteHandle
) -> None:
    client = working.admin
    job_id = await crawl(client, site.base_url, delay_ms=5)
    frames = await stream(client, f"/api/job/{job_id}/stream")

    assert frames[0].event == "snapshot" and frames[0].data["id"] == job_id
    assert frames[-1].event == "done" and frames[-1].data["status"] == 2
    assert frames[-1].data["percentage"] == 100.0
    ids = [f.seq for f in frames]
    assert ids == sorted(ids)
    log = await log_of(client, job_id, frames[-1].seq)
    assert one_for_one(frames[1:]) == expected_frames(log, frames[0].seq)
    assert {f.event for f in frames} >= {"snapshot", "page", "progress", "status", "done"}


async def test_progress_frames_are_coalesced_and_end_at_the_final_counts(
    working: Service, site: SiteHandle
) -> None:
    client = working.admin
    job_id = await crawl(client, site.base_url)
    frames = await stream(client, f"/api/job/{job_id}/stream")
    progress = [f for f in frames if f.event == "progress"]
    pages = [f for f in frames if f.event == "page"]
    assert len(progress) < len(pages)  # at most a few per second, however fast pages arrive
    job = await finished(client, job_id)  # the stream reads the log; the job, the read model
    last = progress[-1].data
    assert (last["done"], last["failed"]) == (job["done"], job["failed"])
    done = [d["done"] for d in (f.data for f in progress)]
    assert done == sorted(done)
    # A crawl's total is what it has discovered so far, not only what it has done: a bar
    # mid-crawl shows queued work still to do.
    running = [f.data for f in progress if f.data["status"] == 1 and f.data["done"] > 0]
    assert any(p["percentage"] < 100 for p in running), running


async def test_a_finished_job_streams_its_snapshot_and_done(
    working: Service, site: SiteHandle
) -> None:
    client = working.admin
    job_id = await crawl(client, site.base_url)
    await finished(client, job_id)
    frames = await stream(client, f"/api/job/{job_id}/stream")
    assert [f.event for f in frames] == ["snapshot", "done"]
    assert frames[0].data["status"] == 2 and frames[0].seq == frames[1].seq


async def test_resume_after_a_dropped_connection_has_no_gap_and_no_duplicate(
    working: Service, site: SiteHandle
) -> None:
    client = working.admin
    job_id = await crawl(client, site.base_url, delay_ms=10)
    first = await stream(client, f"/api/job/{job_id}/stream", stop_after=15)
    rest = await stream(client, f"/api/job/{job_id}/stream", last_id=first[-1].seq)
    assert rest[-1].event == "done"
    assert rest[0].event != "snapshot"
    log = await log_of(client, job_id, rest[-1].seq)
    assert one_for_one(first[1:] + rest) == expected_frames(log, first[0].seq)
    # and again, from a point in the middle of what was already sent
    again = await stream(client, f"/api/job/{job_id}/stream", last_id=first[5].seq)
    assert one_for_one(again) == expected_frames(log, first[5].seq)


async def test_last_event_id_zero_replays_the_whole_history(
    working: Service, site: SiteHandle
) -> None:
    client = working.admin
    job_id = await crawl(client, site.base_url)
    frames = await stream(client, f"/api/job/{job_id}/stream", last_id=0)
    log = await log_of(client, job_id, frames[-1].seq)
    assert one_for_one(frames) == expected_frames(log, 0)
    assert frames[0].event == "status" and frames[0].data["event"] == "created"
    assert frames[-1].event == "done"


async def test_a_client_that_hangs_up_leaves_no_reader_behind(
    working: Service, site: SiteHandle
) -> None:
    client = working.admin
    job_id = await crawl(client, site.base_url, delay_ms=20)
    hub = working.runtime.hub
    await stream(client, f"/api/job/{job_id}/stream", stop_after=3)

    await wait_until(lambda: hub.reader_count == 0, timeout=10)
    status, _ = await client.call("POST", f"/api/job/{job_id}/cancel")  # a quick teardown
    assert status == 200


async def test_live_frames_are_written_straight_to_a_waiting_readers_connection(
    working: Service, site: SiteHandle
) -> None:
    """Once its catch-up is sent, a reader waits parked and the server writes each frame to
    its connection as it is published: the same frames, in the same order, as the log."""
    client = working.admin
    job_id = await crawl(client, site.base_url, delay_ms=20)
    feed = working.runtime.job_feed
    reading = asyncio.create_task(stream(client, f"/api/job/{job_id}/stream"))
    await wait_until(lambda: feed.direct_readers(job_id) == 1, timeout=10, interval=0.005)
    frames = await reading
    assert feed.direct_readers(job_id) == 0  # the stream ended: nobody is parked
    assert frames[-1].event == "done"
    log = await log_of(client, job_id, frames[-1].seq)
    assert one_for_one(frames[1:]) == expected_frames(log, frames[0].seq)
