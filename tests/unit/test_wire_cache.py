"""Encoded frames are shared between readers, never mixed up between frames."""

from __future__ import annotations

from streams.frames import Frame
from streams.wire import WireCache, encode


def test_pages_one_event_makes_keep_their_own_bytes() -> None:
    cache = WireCache()
    pages = [Frame(id=7, event="page", data={"url": f"https://x.test/{i}"}) for i in range(3)]
    assert [cache.encode("job", f) for f in pages] == [encode(f) for f in pages]


def test_a_frame_encoded_again_is_the_cached_bytes() -> None:
    cache = WireCache()
    frame = Frame(id=7, event="log", data={"message": "hello"})
    first = cache.encode("job", frame)
    again = cache.encode("job", Frame(id=7, event="log", data={"message": "hello"}))
    assert again is first
