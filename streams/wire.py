"""Frames as SSE bytes, encoded once per process for all the readers that get them alike.

A frame's content is a function of the log up to its id (its job's state at that sequence),
so every reader of a job gets byte-identical `page`, `log`, `status`, `progress` and `done`
frames: with a thousand readers, encoding once instead of a thousand times matters.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from streams.frames import Frame

_PER_READER = frozenset({"snapshot", "error", "reset"})


def encode(frame: Frame) -> bytes:
    """One event in the text/event-stream format (compact JSON has no newlines)."""
    data = msgspec.json.encode(frame.data)
    return b"id: %d\r\nevent: %s\r\ndata: %s\r\n\r\n" % (frame.id, frame.event.encode(), data)


class WireCache:
    """A bounded LRU of encoded frames keyed by (job, id, event, url).

    The url tells apart the frames one event makes of the same kind: a `chapters_stored`
    event is one `page` frame per chapter, all with that event's id.
    """

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._cache: OrderedDict[tuple[str, int, str, object], bytes] = OrderedDict()

    def encode(self, key: str, frame: Frame) -> bytes:
        if frame.event in _PER_READER:
            return encode(frame)
        k = (key, frame.id, frame.event, frame.data.get("url"))
        hit = self._cache.get(k)
        if hit is not None:
            self._cache.move_to_end(k)
            return hit
        data = self._cache[k] = encode(frame)
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return data
