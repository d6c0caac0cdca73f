"""Ids at the boundary, before they reach NATS or SQL: a malformed id in a path is a 404 (it
names nothing, like an unknown id), in a body a 422 naming the field."""

from __future__ import annotations

from ulid import ULID

from tests.integration.api.helpers import assert_error, create, log_kinds, raw
from tests.support import Service

# Wildcards, separators, white space, lower case, a prefix of a real id and its extension.
BAD_JOB_IDS = [
    "*", ">", "%2A", "a.b", "01ARZ3NDEKTSV4RRFFQ69G5FA*", "01arz3ndektsv4rrffq69g5fav",
    "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAVX", "%20", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
]  # fmt: skip

JOB_ROUTES = [
    ("GET", "/api/job/{}"), ("GET", "/api/job/{}?as_of=1"), ("GET", "/api/job/{}/events"),
    ("POST", "/api/job/{}/cancel"), ("POST", "/api/job/{}/replay"), ("DELETE", "/api/job/{}"),
    ("DELETE", "/api/job/{}?purge=true"), ("GET", "/api/job/{}/results"),
    ("GET", "/api/job/{}/logs"), ("POST", "/api/job/{}/retry"), ("GET", "/api/job/{}/stats"),
    ("GET", "/api/job/{}/export?type=broken-links"), ("GET", "/api/job/{}/stream"),
]  # fmt: skip


async def test_a_malformed_job_id_is_404_on_every_job_route(api: Service) -> None:
    job = await create(api.admin)
    for method, template in JOB_ROUTES:
        for bad in BAD_JOB_IDS:
            status, _, body = await raw(api.admin, method, template.format(bad))
            assert_error(status, body, 404)
            assert "not a well-formed id" in body["detail"], (method, template, bad)
    # The wildcard purge that once erased a job: the job and its history are untouched.
    assert await log_kinds(api, job["id"]) == ["created"]


async def test_a_well_formed_unknown_job_id_is_404(api: Service) -> None:
    unknown = str(ULID())
    for method, template in JOB_ROUTES:
        status, _, body = await raw(api.admin, method, template.format(unknown))
        assert_error(status, body, 404)


async def test_another_users_time_travel_with_a_wildcard_leaks_nothing(api: Service) -> None:
    job = await create(api.admin)
    bob = await api.add_user("bob")
    status, _, body = await raw(bob, "GET", "/api/job/*?as_of=1")
    assert_error(status, body, 404)
    assert job["id"] not in str(body)


async def test_malformed_webhook_ids_are_404(api: Service) -> None:
    for bad in ["*", "wh_*", "wh_01arz3ndektsv4rrffq69g5fav", "x" * 300]:
        for method, path in (("DELETE", f"/api/webhooks/{bad}"),
                             ("GET", f"/api/webhooks/{bad}/deliveries")):  # fmt: skip
            status, _, body = await raw(api.admin, method, path)
            assert_error(status, body, 404)
            assert "not a well-formed id" in body["detail"]
    status, _, body = await raw(api.admin, "DELETE", f"/api/webhooks/wh_{ULID()}")
    assert_error(status, body, 404)


async def test_malformed_job_ids_in_bodies_are_422(api: Service) -> None:
    for field in ("depends_on", "parent_job_id"):
        for bad in ("*", "a.b", "01arz3ndektsv4rrffq69g5fav"):
            body = {"url": "https://example.com/n.html", field: bad}
            status, _, answer = await raw(
                api.admin, "POST", "/api/job/create/fetch-novel", json=body
            )
            assert_error(status, answer, 422, field)
