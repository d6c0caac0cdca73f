"""Helpers of the stream tests: read SSE frames over real HTTP, and the log they must match."""

from __future__ import annotations

from typing import Any

from cli.sse_client import SseEvent, sse_events
from tests.support import Client, wait_until

# How each event kind of the log shows on a job's stream (progress-only kinds are coalesced).
FRAME_OF_KIND = {"page": "page", "log": "log", "progress": None, "child_finished": None}


async def stream(
    client: Client, path: str, *, last_id: int | None = None, stop_after: int | None = None,
    params: dict[str, str] | None = None,
) -> list[SseEvent]:  # fmt: skip
    """Frames of `path` until the server closes it (or `stop_after` frames: a forced drop)."""
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    out: list[SseEvent] = []
    async with client.session.get(client.base + path, headers=headers, params=params) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["x-accel-buffering"] == "no"
        async for event in sse_events(resp):
            out.append(event)
            if stop_after is not None and len(out) >= stop_after:
                break
    return out


async def log_of(client: Client, job_id: str, upto: int) -> list[dict[str, Any]]:
    """The job's audit trail from the API, in log order, once the read model reached `upto`.

    Streams read the log itself, so they may be ahead of the read model by a few events.
    """
    items: list[dict[str, Any]] = []

    async def reached() -> bool:
        nonlocal items
        items = await client.all_items(f"/api/job/{job_id}/events")
        return bool(items) and items[-1]["sequence"] >= upto

    await wait_until(reached, timeout=10)
    return items


def expected_frames(log: list[dict[str, Any]], after: int) -> list[tuple[int, str]]:
    """`(id, event)` of the one-for-one frames the log's events after `after` must give."""
    out = []
    for e in log:
        if e["sequence"] <= after:
            continue
        frame = FRAME_OF_KIND.get(e["kind"], "status")
        if frame is not None:
            out.append((e["sequence"], frame))
    return out


def one_for_one(frames: list[SseEvent]) -> list[tuple[int, str]]:
    return [(f.seq, f.event) for f in frames if f.event in ("page", "log", "status")]


async def crawl(client: Client, base_url: str, **extra: Any) -> str:
    body = {"url": base_url, "concurrency": 4, **extra}
    status, job = await client.call("POST", "/api/job/create/crawl", json=body)
    assert status == 201, job
    return str(job["id"])
