"""Authentication (401 with WWW-Authenticate) and isolation between users (404, not 403)."""

from __future__ import annotations

import aiohttp

from tests.integration.api.helpers import (
    VALID_BODIES,
    assert_error,
    create,
    events,
    job_routes,
    list_all,
    log_kinds,
    raw,
)
from tests.support import Client, Service, get_job


def endpoints(job_id: str) -> list[tuple[str, str, object]]:
    """Every route of the Jobs API, with a body that would be accepted."""
    return [
        ("GET", "/api/jobs", None),
        *((method, path, None) for method, path in job_routes(job_id)),
        *(("POST", path, body) for path, body in VALID_BODIES.items()),
    ]


def ids_of(jobs: list[dict[str, object]]) -> list[object]:
    return [j["id"] for j in jobs]


async def test_every_endpoint_needs_a_valid_token(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer js_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {user.token}"},
        {"Authorization": str(user.token)},
        {"Authorization": f"Bearer {user.token}x"},
    ]
    anonymous = Client(user.session, user.base, None)
    for headers in bad_headers:
        for method, path, body in endpoints(job["id"]):
            status, resp_headers, error = await raw(
                anonymous, method, path, json=body, headers=headers
            )
            assert_error(status, error, 401)
            assert resp_headers.get("WWW-Authenticate", "").startswith("Bearer"), (method, path)
    # none of that touched anything
    assert await log_kinds(api, job["id"]) == ["created"]
    assert ids_of(await list_all(user)) == [job["id"]]
    assert await list_all(api.admin) == await list_all(user)


async def test_the_scheme_is_case_insensitive(api: Service) -> None:
    user = await api.add_user("u")
    status, _, page = await raw(
        user, "GET", "/api/jobs", headers={"Authorization": f"bearer {user.token}"}
    )
    assert (status, page["total"]) == (200, 0)


async def test_other_users_jobs_do_not_exist_for_you(api: Service) -> None:
    alice = await api.add_user("alice")
    bob = await api.add_user("bob")
    job = await create(alice)
    before = await get_job(alice, job["id"])
    for method, path in job_routes(job["id"]):
        status, error = await bob.call(method, path)
        assert_error(status, error, 404)
        assert job["id"] in error["detail"]
    assert await list_all(bob) == []
    assert await list_all(bob, user_id=job["user_id"]) == []
    # alice's job is untouched: no cancel, no delete, no replay
    assert await get_job(alice, job["id"]) == before
    assert await log_kinds(api, job["id"]) == ["created"]
    assert ids_of(await list_all(alice)) == [job["id"]]
    assert len(await list_all(api.admin)) == 1


async def test_the_admin_can_act_on_any_job(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    assert await get_job(api.admin, job["id"]) == job
    status, replay = await api.admin.call("POST", f"/api/job/{job['id']}/replay")
    assert status == 201
    assert replay["extra"] == {"replay_of": job["id"]}
    assert replay["user_id"] != job["user_id"]  # the replay belongs to whoever asked for it
    assert (await api.admin.call("POST", f"/api/job/{job['id']}/cancel")) == (200, True)
    canceled = await get_job(user, job["id"])
    assert canceled["status"] == 4
    admin_id = replay["user_id"]
    assert [e["actor"] for e in await events(user, job["id"])] == [job["user_id"], admin_id]
    assert (await api.admin.call("DELETE", f"/api/job/{job['id']}")) == (200, True)
    assert (await user.call("GET", f"/api/job/{job['id']}"))[0] == 404


async def test_health_and_schema_need_no_token(api: Service) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(api.admin.base + "/health") as resp:
            assert resp.status == 200
            health = await resp.json()
        async with session.get(api.admin.base + "/schema/openapi.json") as resp:
            assert resp.status == 200
            schema = await resp.json()
    assert health["status"] == "ok"
    assert health["nats"] is True and health["projector"] is True
    assert isinstance(health["checkpoint"], int)
    paths = schema["paths"]
    for path in (
        "/api/jobs",
        "/api/job/{job_id}",
        "/api/job/{job_id}/events",
        "/api/job/{job_id}/cancel",
        "/api/job/{job_id}/replay",
        *VALID_BODIES,
    ):
        assert path in paths, path
    assert "get" in paths["/api/jobs"]
    assert "delete" in paths["/api/job/{job_id}"]


async def test_health_checkpoint_follows_the_log(api: Service) -> None:
    user = await api.add_user("u")
    await create(user)
    await get_job(user, (await create(user))["id"])  # the creator's read waits for the model
    status, _, health = await raw(Client(user.session, user.base, None), "GET", "/health")
    assert status == 200
    assert health["checkpoint"] >= 2
