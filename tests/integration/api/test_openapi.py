"""The OpenAPI document describes the served API: read from /schema/openapi.json, then checked
by schemathesis against the real app (uvicorn on 127.0.0.1, a real nats-server)."""

from __future__ import annotations

import asyncio
import collections
import sys
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from api.openapi import RAISES, READINESS
from api.openapi_types import documented_routes
from tests.integration.api.helpers import create
from tests.support import Service

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)
STREAMS = ("/api/job/{job_id}/stream", "/api/jobs/stream")
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


async def document(svc: Service) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,  # no token: the document is public
        session.get(svc.admin.base + "/schema/openapi.json") as resp,
    ):
        assert resp.status == 200
        doc: dict[str, Any] = msgspec.json.decode(await resp.read())
        return doc


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, ops in doc["paths"].items() for m, op in ops.items()}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


async def test_every_route_and_every_error_is_documented(api: Service) -> None:
    doc = await document(api)
    ops = operations(doc)
    routes = {r.key: r for r in documented_routes(api.app)}
    assert set(ops) == set(routes)
    assert set(RAISES) <= set(ops)  # no entry of the table outlives its route
    for key, op in ops.items():
        errors = {s: a for s, a in op["responses"].items() if not s.startswith("2")}
        needs_token = routes[key].takes_user
        assert ("401" in errors) == needs_token, key
        assert ({"bearer": []} in op.get("security", [])) == needs_token, key
        for answer in errors.values():
            if key not in READINESS:
                assert answer["content"] == {"application/json": {"schema": ERROR_REF}}, key
        if "requestBody" in op:
            assert {"400", "413", "422"} <= set(errors), key
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API token (`js_...`).",
    }  # fmt: skip
    error_body = doc["components"]["schemas"]["ErrorBody"]
    assert set(error_body["properties"]) == {"status_code", "detail", "field"}
    names = set(doc["components"]["schemas"])
    assert {r.rsplit("/", 1)[1] for r in refs(doc)} <= names  # nothing dangles


async def test_the_statuses_added_by_limits_ids_and_outages_are_documented(api: Service) -> None:
    ops = operations(await document(api))
    for key, op in ops.items():
        if "{job_id}" in key or "{webhook_id}" in key:
            assert {"404", "422"} <= set(op["responses"]), key
        if key.startswith("POST /api/job/create/") or key in ("GET " + s for s in STREAMS):
            retry = op["responses"]["429"]["headers"]["Retry-After"]
            assert retry["required"] is True, key
        if key != "GET /health/live":  # answers while the process does
            assert "503" in op["responses"], key
    assert "Retry-After" in ops["GET /api/jobs"]["responses"]["503"]["headers"]
    for key in READINESS:
        assert ops[key]["responses"]["503"] == {
            "description": "The store is unavailable: retry later",
            "content": ops[key]["responses"]["200"]["content"],
        }


async def test_constraints_survive_into_the_document(api: Service) -> None:
    doc = await document(api)
    ops, schemas = operations(doc), doc["components"]["schemas"]
    scrape = schemas["ScrapeBody"]
    assert scrape["additionalProperties"] is False
    urls = scrape["properties"]["urls"]
    assert (urls["minItems"], urls["maxItems"]) == (1, 10_000)
    assert urls["items"]["maxLength"] == 4096 and urls["items"]["pattern"].startswith("^https?")
    priority = scrape["properties"]["priority"]["anyOf"][0]
    assert (priority["minimum"], priority["maximum"]) == (0, 2)
    events = {p["name"]: p["schema"] for p in ops["GET /api/events"]["parameters"]}
    assert events["from_seq"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
    assert (events["limit"]["minimum"], events["limit"]["maximum"]) == (1, 1000)
    listed = {p["name"]: p["schema"] for p in ops["GET /api/jobs"]["parameters"]}
    assert listed["offset"]["maximum"] == 2**63 - 1 and isinstance(listed["offset"]["maximum"], int)
    assert listed["limit"] == {
        "description": "At most 100.", "type": "integer", "minimum": 1, "maximum": 100,
        "default": 20,
    }  # fmt: skip
    job_id = ops["GET /api/job/{job_id}"]["parameters"][0]
    assert job_id["in"] == "path" and job_id["schema"]["pattern"].startswith("^[0-7]")
    key = {p["name"]: p["schema"] for p in ops["POST /api/job/create/scrape"]["parameters"]}
    assert key["Idempotency-Key"] == {"type": "string", "maxLength": 200}


async def test_streams_are_documented_and_served_as_event_streams(api: Service) -> None:
    ops = operations(await document(api))
    job = await create(api.admin)
    assert (await api.admin.call("POST", f"/api/job/{job['id']}/cancel"))[0] == 200
    headers = {"Authorization": f"Bearer {api.admin.token}"}
    for path in STREAMS:
        op = ops["GET " + path]
        assert set(op["responses"]["200"]["content"]) == {"text/event-stream"}
        assert op["security"] == [{"bearer": []}, {"streamToken": []}]
        assert "Last-Event-ID" in {p["name"] for p in op["parameters"]}
        url = api.admin.base + path.replace("{job_id}", job["id"])
        async with api.admin.session.get(url, headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].split(";")[0] == "text/event-stream"
            if "{job_id}" in path:  # a finished job's stream ends after `done`
                assert b"event: done" in await resp.read()


class Tally(msgspec.Struct, kw_only=True):
    """What one schemathesis run did, from its NDJSON report; `answers` counts the calls by
    (status, method, path)."""

    calls: int = 0
    failed_checks: int = 0
    answers: collections.Counter[tuple[int, str, str]] = msgspec.field(
        default_factory=collections.Counter
    )


def tally(report: Path) -> Tally:
    out = Tally()
    for line in report.read_bytes().splitlines():
        event = msgspec.json.decode(line)
        recorder = event.get("ScenarioFinished", {}).get("recorder", {})
        for call in recorder.get("interactions", {}).values():
            out.calls += 1
            status = (call.get("response") or {}).get("status_code", 0)
            request = call["request"]
            out.answers[(status, request["method"], URL(request["uri"]).path)] += 1
        for checks in recorder.get("checks", {}).values():
            out.failed_checks += sum(c["status"] == "failure" for c in checks)
    return out


async def fuzz(svc: Service, tmp: Path, examples: int, *args: str) -> Tally:
    """A deterministic, bounded schemathesis run against `svc`; fails the test on any
    finding, with schemathesis' own report of it."""
    report = tmp / "report.ndjson"
    proc = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, "run", svc.admin.base + "/schema/openapi.json", "--checks", CHECKS,
        "--max-examples", str(examples), "--generation-deterministic",
        "--workers", "1", "--request-timeout", "10",
        "--continue-on-failure", "--no-color", "--report", "ndjson",
        "--report-ndjson-path", str(report), *args,
        cwd=tmp, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(100):
        out, _ = await proc.communicate()
    assert report.exists(), out.decode()[-6000:]
    found = tally(report)
    print(f"schemathesis: {found.calls} calls, {found.failed_checks} failed checks")
    assert proc.returncode == 0, out.decode()[-6000:]
    assert found.failed_checks == 0
    return found


async def test_schemathesis_finds_nothing_with_a_valid_token(api: Service, tmp_path: Path) -> None:
    """Every operation but the two SSE streams (their answers never end while a job runs,
    and schemathesis reads whole bodies; their errors are fuzzed without a token below)."""
    user = await api.add_user("fuzz")
    found = await fuzz(
        api, tmp_path, 12, "--header", f"Authorization: Bearer {user.token}",
        "--exclude-path-regex", "/stream$",
    )  # fmt: skip
    assert found.calls > 500
    ok = {(status, method, path) for status, method, path in found.answers if status < 300}
    # creates that generated data can satisfy (fetch-novel also wants a host a source
    # reads, the library creates ids of the caller's library)
    assert {(201, "POST", "/api/job/create/scrape"), (200, "GET", "/api/jobs")} <= ok
    assert any(s == 200 and m == "DELETE" for s, m, _ in ok)  # ids from earlier answers


async def test_schemathesis_finds_nothing_without_a_token(api: Service, tmp_path: Path) -> None:
    """Every operation, with no token or the tokens schemathesis makes up: all 4xx, no data."""
    found = await fuzz(api, tmp_path, 6)
    assert found.calls > 300
    # OPTIONS answers 204 and its Allow header to anyone, and /health(/live, /ready) is public.
    public = ("/health", "/health/live", "/health/ready")
    guarded = {a for a in found.answers if a[1] != "OPTIONS" and a[2] not in public}
    assert guarded and all(400 <= status < 500 for status, _, _ in guarded), guarded
    assert (401, "GET", "/api/jobs") in guarded
