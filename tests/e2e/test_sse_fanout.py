"""1,000 concurrent SSE streams on one job of the real `jobstream serve` process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp

from cli.sse_client import SseEvent, sse_events
from tests.e2e.processes import serve_process
from tests.integration.streams.helpers import crawl, expected_frames, log_of, one_for_one
from tests.sites.testsite import serve_site
from tests.support import Client, cli_env, spawn, stopped, wait_until

CLIENTS = int(os.environ.get("FANOUT_CLIENTS", "1000"))


async def _listen(
    session: aiohttp.ClientSession, url: str, token: str, connected: list[int]
) -> list[SseEvent]:
    out: list[SseEvent] = []
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        async for frame in sse_events(resp):
            if frame.event == "snapshot":
                connected.append(1)
            out.append(frame)
    return out


async def test_a_thousand_streams_on_one_job_all_receive_every_event(tmp_path: Path) -> None:
    async with serve_site(20, seed=5) as site, serve_process(tmp_path) as served:
        client = served.client
        job_id = await crawl(client, site.base_url, delay_ms=2)  # no worker yet: it waits
        url = f"{client.base}/api/job/{job_id}/stream"
        connected: list[int] = []
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            listeners = [
                asyncio.create_task(_listen(session, url, client.token or "", connected))
                for _ in range(CLIENTS)
            ]

            def all_connected() -> bool:
                assert not any(t.done() and t.exception() for t in listeners)
                return len(connected) == CLIENTS

            await wait_until(all_connected, timeout=60, interval=0.1)
            worker = await spawn(
                tmp_path / "worker.log", "worker", "--concurrency", "1",
                env=cli_env(NATS_URL=served.nats_url, JOBSTREAM_ALLOW_PRIVATE="1"),
            )  # fmt: skip
            try:
                streams = await asyncio.wait_for(asyncio.gather(*listeners), 90)
            finally:
                await stopped(worker)
        await _check(streams, client, job_id)


async def _check(streams: list[list[SseEvent]], client: Client, job_id: str) -> None:
    last = max(s[-1].seq for s in streams)
    log = await log_of(client, job_id, last)
    pages = sum(1 for e in log if e["kind"] == "page")
    assert pages > 20, [(e["kind"], e["data"]) for e in log]
    for frames in streams:
        assert frames[0].event == "snapshot" and frames[-1].event == "done"
        assert one_for_one(frames[1:]) == expected_frames(log, frames[0].seq)
