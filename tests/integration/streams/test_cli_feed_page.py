"""The terminal client learns the children feed's page size from the server's own snapshot."""

from __future__ import annotations

from typing import Any

from cli.live_state import Bar, WatchState, children_settled, on_children_frame
from cli.sse_client import sse_events
from engine.domain.model import JobType
from tests.support import Client, Service, wait_until


async def _batch_with_children(client: Client, count: int) -> dict[str, Any]:
    """A NOVEL_BATCH of `count` URLs, once the dispatcher has created all its children."""
    urls = [f"https://example.com/p{i}" for i in range(count)]
    body = {"urls": urls, "source": "novelfull"}
    status, batch = await client.call("POST", "/api/job/create/fetch-novel", json=body)
    assert status == 201, batch

    async def all_created() -> bool:
        params = {"parent_job_id": batch["id"], "limit": 1}
        _, page = await client.call("GET", "/api/jobs", params=params)
        return bool(page["total"] == count)

    await wait_until(all_created, timeout=30)
    return dict(batch)


async def _watched_children(client: Client, batch: dict[str, Any]) -> WatchState:
    """A watch of `batch` after the first frame of its children feed."""
    state = WatchState(job=Bar(id=batch["id"], total=batch["total"]), type=batch["type"])
    headers = {"Authorization": f"Bearer {client.token}"}
    params = {"parent_job_id": batch["id"]}
    path = client.base + "/api/jobs/stream"
    async with client.session.get(path, headers=headers, params=params) as resp:
        assert resp.status == 200
        async for frame in sse_events(resp):
            assert frame.event == "snapshot"
            return on_children_frame(state, frame.event, frame.data)
    raise AssertionError("the feed closed before its snapshot")


async def test_a_large_batch_cuts_the_snapshot_and_the_client_expects_only_that_page(
    service: Service,
) -> None:
    client = service.admin
    large, small = await _batch_with_children(client, 103), await _batch_with_children(client, 3)
    assert large["type"] == small["type"] == JobType.NOVEL_BATCH and large["total"] == 103

    cut = await _watched_children(client, large)
    assert cut.feed_page == len(cut.children) == 100  # the server's page, none of the rest
    whole = await _watched_children(client, small)
    assert whole.feed_page is None and len(whole.children) == 3
    assert not children_settled(cut) and not children_settled(whole)  # no worker ran them
