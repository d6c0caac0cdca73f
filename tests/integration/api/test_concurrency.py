"""Idempotency-Key and concurrent commands: one job, one event, whatever the interleaving."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.integration.api.helpers import (
    ARTIFACTS,
    NOVEL,
    SCRAPE,
    VALID_BODIES,
    assert_error,
    create,
    list_all,
    log_kinds,
    start,
)
from tests.support import Service, get_job

BODY = VALID_BODIES[NOVEL]


async def test_same_key_same_user_is_one_job(api: Service) -> None:
    user = await api.add_user("u")
    headers = {"Idempotency-Key": "order-42"}
    status, first = await user.call("POST", NOVEL, json=BODY, headers=headers)
    assert status == 201
    status, again = await user.call("POST", NOVEL, json=BODY, headers=headers)
    assert status == 201
    assert again == first
    # a different body or endpoint under the same key is refused, naming the key
    scrape = {"urls": ["https://example.com/v"]}
    status, other = await user.call("POST", SCRAPE, json=scrape, headers=headers)
    assert_error(status, other, 422, "Idempotency-Key")
    assert [j["id"] for j in await list_all(user)] == [first["id"]]
    assert await log_kinds(api, first["id"]) == ["created"]
    # another key, or no key, is another job
    status, fresh = await user.call("POST", NOVEL, json=BODY, headers={"Idempotency-Key": "x"})
    assert status == 201 and fresh["id"] != first["id"]
    assert (await create(user))["id"] not in (first["id"], fresh["id"])
    assert len(await list_all(user)) == 3


async def test_same_key_different_users_are_different_jobs(api: Service) -> None:
    alice = await api.add_user("alice")
    bob = await api.add_user("bob")
    headers = {"Idempotency-Key": "shared"}
    _, a = await alice.call("POST", NOVEL, json=BODY, headers=headers)
    _, b = await bob.call("POST", NOVEL, json=BODY, headers=headers)
    assert a["id"] != b["id"]
    assert a["user_id"] != b["user_id"]
    assert [j["id"] for j in await list_all(alice)] == [a["id"]]
    assert [j["id"] for j in await list_all(bob)] == [b["id"]]
    _, a2 = await alice.call("POST", NOVEL, json=BODY, headers=headers)
    assert a2["id"] == a["id"]


async def test_key_survives_the_job_being_canceled(api: Service) -> None:
    user = await api.add_user("u")
    headers = {"Idempotency-Key": "k"}
    _, job = await user.call("POST", NOVEL, json=BODY, headers=headers)
    assert (await user.call("POST", f"/api/job/{job['id']}/cancel"))[0] == 200
    status, again = await user.call("POST", NOVEL, json=BODY, headers=headers)
    assert (status, again["id"], again["status"]) == (201, job["id"], 4)
    assert await log_kinds(api, job["id"]) == ["created", "canceled"]


async def test_refused_request_does_not_burn_the_key(api: Service) -> None:
    user = await api.add_user("u")
    headers = {"Idempotency-Key": "retry-me"}
    status, error = await user.call(
        "POST", ARTIFACTS, json={"novel_id": "n", "formats": ["pdf"]}, headers=headers
    )
    assert_error(status, error, 403)
    status, error = await user.call(
        "POST", NOVEL, json={**BODY, "depends_on": "missing"}, headers=headers
    )
    assert_error(status, error, 422, "depends_on")
    status, job = await user.call("POST", NOVEL, json=BODY, headers=headers)
    assert status == 201
    assert job["depends_on"] is None


async def test_concurrent_requests_with_one_key_make_one_job(api: Service) -> None:
    user = await api.add_user("u")
    headers = {"Idempotency-Key": "burst"}
    replies = await asyncio.gather(
        *(user.call("POST", NOVEL, json=BODY, headers=headers) for _ in range(10))
    )
    assert [status for status, _ in replies] == [201] * 10, replies
    ids = {job["id"] for _, job in replies}
    assert len(ids) == 1
    (job_id,) = ids
    assert [j["id"] for j in await list_all(user)] == [job_id]
    assert await log_kinds(api, job_id) == ["created"]
    assert all(job == replies[0][1] for _, job in replies)


async def test_concurrent_keys_of_several_users(api: Service) -> None:
    users = [await api.add_user(f"u{i}") for i in range(3)]
    replies = await asyncio.gather(
        *(
            u.call("POST", NOVEL, json=BODY, headers={"Idempotency-Key": f"k{k}"})
            for u in users
            for k in range(2)
            for _ in range(3)
        )
    )
    assert {status for status, _ in replies} == {201}
    assert len({job["id"] for _, job in replies}) == 6
    for u in users:
        assert len(await list_all(u)) == 2


async def test_concurrent_cancels_of_a_pending_job(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    replies = await asyncio.gather(
        *(user.call("POST", f"/api/job/{job['id']}/cancel") for _ in range(20))
    )
    statuses = Counter(status for status, _ in replies)
    assert set(statuses) <= {200, 409}, replies
    assert statuses[200] == 1, statuses
    for status, body in replies:
        if status == 409:
            assert_error(status, body, 409)
        else:
            assert body is True
    assert await log_kinds(api, job["id"]) == ["created", "canceled"]
    assert (await get_job(user, job["id"]))["status"] == 4


async def test_concurrent_cancels_of_a_running_job(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    await start(api, job["id"])
    replies = await asyncio.gather(
        *(user.call("POST", f"/api/job/{job['id']}/cancel") for _ in range(20))
    )
    assert replies == [(200, True)] * 20
    assert await log_kinds(api, job["id"]) == ["created", "started", "cancel_requested"]
    assert (await get_job(user, job["id"]))["status"] == 1


async def test_concurrent_deletes_and_cancels(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    path = f"/api/job/{job['id']}"
    replies = await asyncio.gather(
        *(
            user.call("POST", f"{path}/cancel") if i % 2 else user.call("DELETE", path)
            for i in range(20)
        )
    )
    assert {status for status, _ in replies} <= {200, 404, 409}, replies
    kinds = await log_kinds(api, job["id"])
    assert Counter(kinds) == Counter({"created": 1, "canceled": 1, "deleted": 1}), kinds
    assert kinds[-1] == "deleted"
    assert (await user.call("GET", f"/api/job/{job['id']}"))[0] == 404


async def test_key_of_a_deleted_job_is_a_conflict(api: Service) -> None:
    user = await api.add_user("u")
    headers = {"Idempotency-Key": "k"}
    _, job = await user.call("POST", NOVEL, json=BODY, headers=headers)
    assert (await user.call("DELETE", f"/api/job/{job['id']}"))[0] == 200
    status, error = await user.call("POST", NOVEL, json=BODY, headers=headers)
    assert_error(status, error, 409)
    assert "Idempotency-Key" in error["detail"] and job["id"] in error["detail"]
    assert await log_kinds(api, job["id"]) == ["created", "canceled", "deleted"]
    assert await list_all(user) == []
