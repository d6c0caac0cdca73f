"""`Follower` gives up with `Unreachable` after `patience_s` of failed reconnects, whether the
connection drops or the server keeps answering 5xx."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from cli.http import Api, Follower, Unreachable
from cli.sse_client import SseEvent
from tests.support import serve_app


def _stream_once_then_503() -> web.Application:
    """A stream endpoint that serves one event and ends, then answers 503 to every request."""
    served = 0

    async def stream(request: web.Request) -> web.StreamResponse:
        nonlocal served
        served += 1
        if served > 1:
            return web.json_response({"detail": "restarting"}, status=503)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'id: 1\nevent: snapshot\ndata: {"id": "j"}\n\n')
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/api/job/j/stream", stream)
    return app


async def test_a_server_answering_503_forever_exhausts_patience() -> None:
    seen: list[SseEvent] = []

    def on_frame(event: SseEvent) -> bool:
        seen.append(event)
        return False  # never satisfied: only giving up ends the watch

    async with serve_app(_stream_once_then_503()) as base, aiohttp.ClientSession() as session:
        follower = Follower(Api(session, base, "t"), "/api/job/j/stream", patience_s=0.1)
        async with asyncio.timeout(10):
            with pytest.raises(Unreachable, match="503"):
                await follower.run(on_frame)
    assert [e.event for e in seen] == ["snapshot"]
