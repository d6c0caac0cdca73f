"""The size cap whatever way a body is sent: with a Content-Length (read whole when within
the cap), compressed (the cap counts decoded bytes) or chunked; real HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest
from aiohttp import web

from engine.crawl.fetcher import FetchSettings, fetch, make_session
from tests.support import serve_app

SIZE = 100_000
BODY = bytes(range(256)) * (SIZE // 256) + b"x" * (SIZE % 256)


async def _plain(_: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/octet-stream")


async def _gzipped(_: web.Request) -> web.Response:
    packed = gzip.compress(b"0" * (SIZE * 20))  # a few KiB on the wire, 2 MB decoded
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    return web.Response(body=packed, headers=headers)


async def _chunked(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for start in range(0, SIZE, 10_000):
        await resp.write(BODY[start : start + 10_000])
    await resp.write_eof()
    return resp


@pytest.fixture
async def origin() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/plain", _plain)
    app.router.add_get("/gzipped", _gzipped)
    app.router.add_get("/chunked", _chunked)
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with make_session(FetchSettings(allow_private=True)) as client:
        yield client


def _capped(max_bytes: int) -> FetchSettings:
    return msgspec.structs.replace(FetchSettings(allow_private=True), max_bytes=max_bytes)


@pytest.mark.parametrize("path", ["/plain", "/chunked"])
async def test_a_body_at_the_cap_is_whole_and_one_byte_over_is_cut(
    origin: str, session: aiohttp.ClientSession, path: str
) -> None:
    whole = await fetch(session, origin + path, _capped(SIZE))
    assert (whole.body, whole.truncated, whole.bytes) == (BODY, False, SIZE)
    cut = await fetch(session, origin + path, _capped(SIZE - 1))
    assert (cut.body, cut.truncated, cut.bytes) == (BODY[:-1], True, SIZE - 1)
    again = await fetch(session, origin + path, _capped(SIZE))  # the connection still serves
    assert again.body == BODY


async def test_a_compressed_body_is_capped_by_its_decoded_size(
    origin: str, session: aiohttp.ClientSession
) -> None:
    result = await fetch(session, origin + "/gzipped", _capped(SIZE))
    assert result.truncated and result.body == b"0" * SIZE
