"""Server-sent events as a plain ASGI app: each chunk one `http.response.body`, nothing more.

Whatever a stream does per chunk it does once per reader per event, a thousand times for a
thousand readers of a job, so the response does only what SSE needs: the headers once, each
chunk as it comes, a comment line as a ping every `ping_s` (so proxies and clients see a live
connection), and an end when the chunks end or the client disconnects (a task listening for
`http.disconnect` cancels the pump; the chunks' generator is closed either way, which is how a
job stream leaves its channel). Chunks that can (DirectChunks) are given the connection's
direct writer when the server offers one (api/http_protocol.py DirectBody). With
`send_timeout_s`, a send that takes longer ends the stream: a reader that stopped reading
cannot hold the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol, runtime_checkable

from litestar.types import Message, Receive, Scope, Send
from prometheus_client import Gauge

from api.http_protocol import EVENT_STREAM, direct_body

PING = b": ping\r\n\r\n"
_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    "connection": "keep-alive",
    "x-accel-buffering": "no",  # nginx: pass each event on at once
}


@runtime_checkable
class DirectChunks(Protocol):
    """Chunks that can also be written straight to the connection as they come (a job's
    stream: streams/feed.py JobStream.write_directly)."""

    def write_directly(self, write: Callable[[bytes], bool]) -> None: ...


class EventStream:
    """The ASGI app of one SSE response over `chunks` (already encoded events)."""

    def __init__(
        self, chunks: AsyncIterator[bytes], *, ping_s: float, send_timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None, clients: Gauge | None = None,
    ) -> None:  # fmt: skip
        """`clients`, when given, counts this response while it streams (the SSE gauge)."""
        self._chunks = chunks
        self._clients = clients
        self._ping_s = ping_s
        self._send_timeout_s = send_timeout_s
        merged = {**_HEADERS, **{k.lower(): v for k, v in (headers or {}).items()}}
        self._headers = [(k.encode(), v.encode()) for k, v in merged.items()]
        self._disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[EVENT_STREAM] = True  # type: ignore[literal-required]  # closed at shutdown
        direct = direct_body(scope)
        if direct is not None and isinstance(self._chunks, DirectChunks):
            self._chunks.write_directly(direct)
        start: Message = {"type": "http.response.start", "status": 200, "headers": self._headers}
        await send(start)
        # The pump runs in a task of its own: waking it for a chunk resumes only its few
        # frames, not the whole ASGI stack (server, middleware, router) above this app.
        pump = asyncio.create_task(self._pump(send))
        helpers = [pump, asyncio.create_task(self._watch(receive, pump))]
        if self._ping_s > 0:
            helpers.append(asyncio.create_task(self._ping(send)))
        if self._clients is not None:
            self._clients.inc()
        try:
            await pump  # cancelling this task cancels the pump too
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if not self._disconnected or (this is not None and this.cancelling()):
                raise
            # the pump was cancelled by our watcher: the client left, the response just ends
        finally:
            if self._clients is not None:
                self._clients.dec()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await _close(self._chunks)

    async def _pump(self, send: Send) -> None:
        """Send every chunk, then the end of the body; stop quietly once the client is gone."""
        try:
            if self._send_timeout_s is None:
                # the path each delivery takes: nothing but the send (no timer per chunk)
                async for chunk in self._chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                async for chunk in self._chunks:
                    await self._send(send, chunk, more=True)
            await self._send(send, b"", more=False)
        except (OSError, TimeoutError):  # the client went away, or stopped reading
            return

    async def _send(self, send: Send, body: bytes, *, more: bool) -> None:
        message: Message = {"type": "http.response.body", "body": body, "more_body": more}
        if self._send_timeout_s is None:
            await send(message)
            return
        async with asyncio.timeout(self._send_timeout_s):
            await send(message)

    async def _watch(self, receive: Receive, pump: asyncio.Task[object]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._disconnected = True
        pump.cancel()

    async def _ping(self, send: Send) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            while True:
                await asyncio.sleep(self._ping_s)
                await self._send(send, PING, more=True)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
