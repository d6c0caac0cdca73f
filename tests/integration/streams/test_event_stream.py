"""The SSE response itself (api/sse.py): pings while a job is quiet, a stream ended by its
client leaves nothing behind, and a server shutting down with streams open stops at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from api.settings import Settings
from tests.integration.api.helpers import create
from tests.support import Client, run_service, wait_until


def _settings(tmp_path: Path, nats_url: str, **extra: float) -> Settings:
    """No workers: a created job stays pending, so its stream never ends by itself."""
    return Settings(data_dir=tmp_path / "data", nats_url=nats_url, **extra)  # type: ignore[arg-type]


async def _open(client: Client, job_id: str) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {client.token}"}
    resp = await client.session.get(f"{client.base}/api/job/{job_id}/stream", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["Cache-Control"] == "no-store"
    return resp


async def test_a_quiet_stream_gets_pings_after_its_snapshot(tmp_path: Path, nats_url: str) -> None:
    async with run_service(_settings(tmp_path, nats_url, sse_ping_s=0.05)) as svc:
        job = await create(svc.admin)
        resp = await _open(svc.admin, job["id"])
        try:
            lines = [await resp.content.readline() for _ in range(4)]
            assert lines[1] == b"event: snapshot\r\n", lines
            while (line := await resp.content.readline()) != b": ping\r\n":
                assert line.strip() == b"", line  # nothing but the pings comes
        finally:
            resp.close()


async def test_a_stream_its_client_left_leaves_no_reader(tmp_path: Path, nats_url: str) -> None:
    async with run_service(_settings(tmp_path, nats_url)) as svc:
        job = await create(svc.admin)
        hub = svc.runtime.hub
        resp = await _open(svc.admin, job["id"])
        await resp.content.readline()  # the response has started: the reader is attached
        assert hub.reader_count == 1
        resp.close()
        await wait_until(lambda: hub.reader_count == 0, timeout=10)
        assert svc.runtime.jobs.limiter.open_streams(job["user_id"]) == 0


@pytest.mark.timeout(60)
async def test_shutdown_with_open_streams_ends_them_and_stops(
    tmp_path: Path, nats_url: str
) -> None:
    """uvicorn waits for responses in progress at shutdown; a stream never finishes, so
    without being closed it would hold the server for ever (the per-test timeout)."""
    responses = []
    async with aiohttp.ClientSession() as own:  # outlives the service's own client
        async with run_service(_settings(tmp_path, nats_url)) as svc:
            job = await create(svc.admin)
            reader = Client(own, svc.admin.base, svc.admin.token)
            for _ in range(3):
                resp = await _open(reader, job["id"])
                await resp.content.readline()
                responses.append(resp)
        for resp in responses:  # each connection was closed: reading ends instead of waiting
            try:
                rest = await asyncio.wait_for(resp.content.read(), timeout=10)
            except aiohttp.ClientPayloadError:
                rest = b""
            assert b"event: done" not in rest
            resp.close()
