"""Open streams per user: the one past the limit is a 429, and a stream stops counting when
it ends, however it ends (the client leaves, or the job is done)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.limits import Limiter, Limits
from api.settings import Settings
from cli.sse_client import SseEvent, sse_events
from tests.integration.api.helpers import NOVEL, assert_error, create, finish, raw, start
from tests.support import Client, Service, run_service, wait_until


@pytest.fixture
async def limited(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """The service (no workers: jobs stay pending), two open streams per user."""
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_url, limits=Limits(max_streams=2))
    async with run_service(settings) as svc:
        yield svc


def limiter(svc: Service) -> Limiter:
    found: Limiter = svc.runtime.jobs.limiter
    return found


@contextlib.asynccontextmanager
async def opened(client: Client, path: str) -> AsyncIterator[AsyncIterator[SseEvent]]:
    """A stream of `path`, its snapshot read (the response has started); the client
    disconnects when the block ends."""
    headers = {"Authorization": f"Bearer {client.token}"}
    async with client.session.get(client.base + path, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        async with contextlib.aclosing(sse_events(resp)) as frames:
            assert (await anext(frames)).event == "snapshot"
            yield frames


async def _refused(client: Client, path: str) -> None:
    status, headers, body = await raw(client, "GET", path)
    assert_error(status, body, 429)
    assert body["field"] is None and "at most 2 open streams" in body["detail"], body
    assert headers["Retry-After"] == "5"


async def test_the_stream_past_the_limit_is_a_429_until_one_closes(limited: Service) -> None:
    alice = await limited.add_user("alice")
    job = await create(alice, NOVEL)
    uid, job_path = job["user_id"], f"/api/job/{job['id']}/stream"
    async with opened(alice, job_path), contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(opened(alice, "/api/jobs/stream"))
        assert limiter(limited).open_streams(uid) == 2
        await _refused(alice, job_path)
        await _refused(alice, "/api/jobs/stream")
        admin = limited.admin  # exempt: a third stream, and more
        async with opened(admin, job_path), opened(admin, job_path), opened(admin, job_path):
            assert limiter(limited).open_streams(uid) == 2
        await stack.aclose()  # the client leaves the feed
        await wait_until(lambda: limiter(limited).open_streams(uid) == 1)
        async with opened(alice, "/api/jobs/stream"):
            assert limiter(limited).open_streams(uid) == 2
    await wait_until(lambda: limiter(limited).open_streams(uid) == 0)


async def test_a_stream_that_ends_with_its_job_stops_counting(limited: Service) -> None:
    alice = await limited.add_user("alice")
    job = await create(alice, NOVEL)
    uid = job["user_id"]
    async with opened(alice, f"/api/job/{job['id']}/stream") as frames:
        assert limiter(limited).open_streams(uid) == 1
        await start(limited, job["id"])
        await finish(limited, job["id"], ok=True)
        rest = [frame.event async for frame in frames]  # until the server closes it
        assert rest[-1] == "done", rest
        await wait_until(lambda: limiter(limited).open_streams(uid) == 0)
    async with opened(alice, "/api/jobs/stream"), opened(alice, "/api/jobs/stream"):
        assert limiter(limited).open_streams(uid) == 2  # the ended stream left its place
