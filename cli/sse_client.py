"""A small client-side reader of `text/event-stream`, for the CLI (and tests) over aiohttp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec


class SseEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One dispatched server-sent event; `data` is decoded JSON."""

    event: str
    id: str | None
    data: Any

    @property
    def seq(self) -> int:
        return int(self.id or 0)


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[SseEvent]:
    """The events of one response, in order, until the server closes the stream.

    Comment lines (keep-alive pings) are skipped; multi-line data is joined per the spec.
    """
    event, last_id = "message", None
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent(event=event, id=last_id, data=msgspec.json.decode("\n".join(data)))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            last_id = value
