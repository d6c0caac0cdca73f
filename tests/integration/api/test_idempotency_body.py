"""An Idempotency-Key bound to one request: the same request gets the same job, another is a
422 naming the key, and keys bound before requests were fingerprinted still answer."""

from __future__ import annotations

from typing import Any

from api.jobs import idempotency_kv_key
from tests.integration.api.helpers import (
    NOVEL,
    SCRAPE,
    SOURCE,
    assert_error,
    create,
    list_all,
    log_kinds,
)
from tests.support import Client, Service

BODY = {"url": "https://example.com/novel.html", "source": SOURCE}


async def _post(client: Client, key: str, body: dict[str, Any], path: str = NOVEL) -> Any:
    return await client.call("POST", path, json=body, headers={"Idempotency-Key": key})


async def test_another_request_under_a_used_key_is_a_422_and_no_job(api: Service) -> None:
    alice = await api.add_user("alice")
    status, job = await _post(alice, "order-7", BODY)
    assert status == 201, job
    others: list[tuple[str, dict[str, Any]]] = [
        (NOVEL, {**BODY, "url": "https://example.com/other.html"}),  # params
        (NOVEL, {**BODY, "priority": 2}),  # priority
        (NOVEL, {**BODY, "depends_on": job["id"]}),  # dependency
        (NOVEL, {**BODY, "parent_job_id": job["id"]}),  # parent
        (SCRAPE, {"urls": ["https://example.com/novel.html"]}),  # type
    ]
    for path, body in others:
        status, error = await _post(alice, "order-7", body, path)
        assert_error(status, error, 422, "Idempotency-Key")
        assert job["id"] in error["detail"] and "different request" in error["detail"]
    assert [j["id"] for j in await list_all(alice)] == [job["id"]]
    assert await log_kinds(api, job["id"]) == ["created"]
    # The same request still gets the same job (an explicit null is the default).
    status, again = await _post(alice, "order-7", {**BODY, "priority": None})
    assert (status, again) == (201, job)


async def test_a_key_bound_before_fingerprints_matches_any_request(api: Service) -> None:
    """Entries written by earlier versions hold the job id alone: no fingerprint, accepted."""
    alice = await api.add_user("alice")
    job = await create(alice, NOVEL, **BODY)
    kv = api.runtime.jobs.kv
    await kv.put(idempotency_kv_key(job["user_id"], "legacy"), job["id"].encode())
    status, found = await _post(alice, "legacy", {**BODY, "url": "https://example.com/else.html"})
    assert (status, found["id"]) == (201, job["id"])
    status, found = await _post(alice, "legacy", {"urls": ["https://example.com/c9"]}, SCRAPE)
    assert (status, found["id"]) == (201, job["id"])
    assert len(await list_all(alice)) == 1
