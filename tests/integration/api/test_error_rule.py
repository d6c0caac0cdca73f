"""The error rule, route by route: a bad field is a 422 naming it wherever it is, a body that
cannot be read is a 400."""

from __future__ import annotations

from typing import Any

from tests.integration.api.helpers import assert_error, raw
from tests.support import Service

# Well-formed ids of nothing, by path parameter: the query is judged before any lookup.
IDS = {
    "job_id": "01J00000000000000000000000",
    "artifact_id": "01J00000000000000000000000",
    "webhook_id": "wh_01J00000000000000000000000",
    "spider_id": "sp_01J00000000000000000000000",
    "novel_id": "0123456789abcdef",
    "chapter_id": "0123456789abcdef",
    "image_id": "0123456789abcdef",
}
BAD = {"integer": "not-a-number", "boolean": "maybe"}


def _bad_queries(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path with ids, parameter) for every query parameter of a documented route
    that takes a number, a boolean or one of a list of words."""
    found = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                schema = p.get("schema", {})
                if p["in"] == "query" and (schema.get("type") in BAD or "enum" in schema):
                    found.append((method.upper(), path.format(**IDS), p["name"]))
    return found


def _value(doc: dict[str, Any], method: str, path: str, name: str) -> str:
    template = next(p for p in doc["paths"] if p.format(**IDS) == path)
    [param] = [p for p in doc["paths"][template][method.lower()]["parameters"]
               if p["name"] == name]  # fmt: skip
    return BAD.get(param["schema"].get("type", ""), "no-such-word")


async def test_every_bad_query_field_is_422_naming_it(api: Service) -> None:
    status, doc = await api.admin.call("GET", "/schema/openapi.json")
    assert status == 200, doc
    cases = _bad_queries(doc)
    assert ("GET", "/api/events", "limit") in cases and len(cases) > 15, cases
    for method, path, name in cases:
        params = {name: _value(doc, method, path, name)}
        if path.endswith("/export") and name != "type":
            params["type"] = "results"  # the one required parameter, well-formed
        status, _, error = await raw(api.admin, method, path, params=params)
        assert_error(status, error, 422, name)


async def test_a_body_that_is_not_json_is_400_and_a_bad_field_422(api: Service) -> None:
    for path in ("/api/job/create/crawl", "/api/webhooks"):
        status, _, error = await raw(api.admin, "POST", path, data=b"{not json",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        assert_error(status, error, 400)
    crawl = {"domain": "example.com", "max_pages": -1}
    status, error = await api.admin.call("POST", "/api/job/create/crawl", json=crawl)
    assert_error(status, error, 422, "max_pages")
    hook = {"url": "ftp://example.com/", "events": ["job.failed"]}
    status, error = await api.admin.call("POST", "/api/webhooks", json=hook)
    assert_error(status, error, 422, "url")
