"""Malformed input never gets a 500 or a non-JSON error: bodies nested too deep on every JSON
route, and requests uvicorn cannot parse before any route sees them."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from api.json_depth import MAX_DEPTH
from api.openapi_types import body_type, documented_routes
from tests.integration.api.helpers import assert_error, create, raw
from tests.support import Service


def deep_bodies(levels: int) -> dict[str, bytes]:
    return {
        "arrays": b"[" * levels + b"]" * levels,
        "objects": b'{"a":' * levels + b"1" + b"}" * levels,
    }


async def json_routes(svc: Service) -> list[tuple[str, str]]:
    """Every operation of the served document that takes a JSON body: method and path."""
    status, _, doc = await raw(svc.admin, "GET", "/schema/openapi.json")
    assert status == 200
    found = [
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    takes_body = {(r.method, r.path) for r in documented_routes(svc.app) if body_type(r)}
    assert set(found) == takes_body and len(found) >= 8  # seven creates and a webhook, so far
    return found


def concrete(path: str, job_id: str) -> str:
    path = path.replace("{job_id}", job_id).replace("{webhook_id}", "wh_" + job_id)
    return path.replace("{spider_id}", "sp_" + job_id)


async def test_json_nested_1000_deep_is_400_on_every_json_route(api: Service) -> None:
    user = await api.add_user("u")
    job_id = (await create(user))["id"]
    for method, path in await json_routes(api):
        for shape, body in deep_bodies(1000).items():
            status, _, error = await raw(
                user, method, concrete(path, job_id), data=body,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            assert_error(status, error, 400)
            assert f"nested deeper than {MAX_DEPTH}" in error["detail"], (path, shape)


async def test_json_at_the_depth_limit_is_decoded(api: Service) -> None:
    """64 levels are decoded, and refused for what they are: not the body a route wants
    (judged before the id in the path is looked up)."""
    user = await api.add_user("u")
    for method, path in await json_routes(api):
        for body in deep_bodies(MAX_DEPTH).values():
            status, _, error = await raw(
                user, method, concrete(path, "01J00000000000000000000000"), data=body,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            assert_error(status, error, 422)
            assert "nested deeper" not in error["detail"]


async def exchange(svc: Service, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as raw bytes; the status, headers and body of the answer, read until
    the server closes the connection."""
    host, port = svc.admin.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /api/jobs HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /api/\x00jobs HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
async def test_requests_uvicorn_cannot_parse_get_a_json_400(
    api: Service, request_bytes: bytes
) -> None:
    status, headers, body = await exchange(api, request_bytes)
    assert (status, headers["content-type"]) == (400, "application/json")
    assert headers["connection"] == "close"
    error: dict[str, Any] = msgspec.json.decode(body)
    assert_error(status, error, 400)
    assert int(headers["content-length"]) == len(body)
