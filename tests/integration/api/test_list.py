"""GET /api/jobs: filters, pagination, newest first, root jobs only unless a parent is given."""

from __future__ import annotations

from typing import Any

from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope
from engine.domain.model import JobType
from engine.service import new_id, now_ms
from tests.integration.api.helpers import (
    NOVEL,
    artifact_params,
    create,
    create_directly,
    list_all,
    run,
)
from tests.support import Service, get_job, wait_until

DAY_MS = 86_400_000


def ids(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["id"] for j in jobs]


async def test_every_filter(api: Service) -> None:
    user = await api.add_user("u")
    novel = await create(user, NOVEL, url="https://example.com/a")
    full = await create(user, NOVEL, url="https://example.com/b", full=True)
    # jobs of the library's types, through the engine (their routes want library ids)
    chapter = await create_directly(api, user, JobType.CHAPTER, {"chapters": ["c1"]}, priority=2)
    image = await create_directly(api, user, JobType.IMAGE, {"images": ["i1"]}, priority=1)
    artifact = await create_directly(api, user, JobType.ARTIFACT, artifact_params("epub"))
    canceled = await create_directly(api, user, JobType.VOLUME, {"volumes": ["v1"]})
    assert (await user.call("POST", f"/api/job/{canceled['id']}/cancel"))[0] == 200
    newest_first = [canceled, artifact, image, chapter, full, novel]

    assert ids(await list_all(user)) == ids(newest_first)
    assert ids(await list_all(user, type=5)) == [full["id"]]
    assert ids(await list_all(user, type=0)) == [novel["id"]]
    assert ids(await list_all(user, type=41)) == []
    assert ids(await list_all(user, status=4)) == [canceled["id"]]
    assert ids(await list_all(user, status=0)) == ids(newest_first[1:])
    assert ids(await list_all(user, status=1)) == []
    assert ids(await list_all(user, priority=2)) == [chapter["id"]]
    assert ids(await list_all(user, priority=1)) == [image["id"]]
    assert ids(await list_all(user, priority=0)) == ids([canceled, artifact, full, novel])
    assert ids(await list_all(user, is_done="true")) == [canceled["id"]]
    assert ids(await list_all(user, is_done="false")) == ids(newest_first[1:])
    assert ids(await list_all(user, category="export")) == [artifact["id"]]
    assert ids(await list_all(user, category="sync")) == ids(
        [canceled, image, chapter, full, novel]
    )
    assert ids(await list_all(user, category="seo")) == []
    assert ids(await list_all(user, category="ai")) == []
    assert ids(await list_all(user, user_id=novel["user_id"])) == ids(newest_first)
    assert ids(await list_all(user, user_id="someone-else")) == []
    # filters combine
    assert ids(await list_all(user, status=0, priority=0, category="sync")) == ids([full, novel])
    assert ids(await list_all(user, is_done="true", type=0)) == []
    # each listed job is exactly what GET returns
    for job in await list_all(user):
        assert await get_job(user, job["id"]) == job


async def test_range_counts_back_from_now(api: Service) -> None:
    user = await api.add_user("u")
    recent = await create(user)
    # a job created ten days ago, through the engine (the API always stamps "now")
    old_id = new_id()
    await run(
        api,
        CreateJob(
            **command_envelope(old_id, "u", at=now_ms() - 10 * DAY_MS),
            user_id=recent["user_id"], type=0, priority=0, title="old",
            params={"url": "https://example.com/old", "full": False},
        ),
    )  # fmt: skip
    old = await get_job(user, old_id)
    assert old["created_at"] < recent["created_at"] - 9 * DAY_MS
    assert ids(await list_all(user)) == [recent["id"], old_id]
    for within in ("7d", "1d", "24h", "1h", "1w"):
        assert ids(await list_all(user, range=within)) == [recent["id"]], within
    for within in ("11d", "2w", "300h", "99999w"):
        assert ids(await list_all(user, range=within)) == [recent["id"], old_id], within


async def test_pagination_newest_first(api: Service) -> None:
    user = await api.add_user("u")
    made = [await create(user, NOVEL, url=f"https://example.com/{i}") for i in range(7)]
    expected = ids(made)[::-1]
    status, page = await user.call("GET", "/api/jobs")
    assert status == 200
    assert (page["total"], page["offset"], page["limit"]) == (7, 0, 20)
    assert ids(page["items"]) == expected
    created = [j["created_at"] for j in page["items"]]
    assert created == sorted(created, reverse=True)
    collected: list[str] = []
    for offset in range(0, 9, 3):
        status, page = await user.call("GET", "/api/jobs", params={"offset": offset, "limit": 3})
        assert status == 200
        assert (page["total"], page["offset"], page["limit"]) == (7, offset, 3)
        assert ids(page["items"]) == expected[offset : offset + 3]
        collected += ids(page["items"])
    assert collected == expected
    status, page = await user.call("GET", "/api/jobs", params={"offset": 50})
    assert (status, page["total"], page["items"]) == (200, 7, [])
    status, page = await user.call("GET", "/api/jobs", params={"limit": 1, "status": 0})
    assert (page["total"], ids(page["items"])) == (7, expected[:1])


async def test_only_root_jobs_unless_a_parent_is_given(api: Service) -> None:
    user = await api.add_user("u")
    parent = await create(user, NOVEL, url="https://example.com/p")
    under = {"parent_job_id": parent["id"]}
    children = [await create_directly(api, user, JobType.CHAPTER, {"chapters": ["c"]}, **under)]
    children.append(await create_directly(api, user, JobType.IMAGE, {"images": ["i"]}, **under))
    grandchild = await create_directly(
        api, user, JobType.CHAPTER, {"chapters": ["g"]}, parent_job_id=children[0]["id"]
    )
    assert ids(await list_all(user)) == [parent["id"]]
    assert ids(await list_all(user, parent_job_id=parent["id"])) == ids(children)[::-1]
    assert ids(await list_all(user, parent_job_id=children[0]["id"])) == [grandchild["id"]]
    assert ids(await list_all(user, parent_job_id=parent["id"], type=30)) == [children[1]["id"]]
    assert await list_all(user, parent_job_id="no-such-job") == []


async def test_batch_children_are_listed_under_their_parent(api: Service) -> None:
    user = await api.add_user("u")
    urls = [f"https://example.com/{i}" for i in range(3)]
    batch = await create(user, NOVEL, urls=urls)
    assert ids(await list_all(user)) == [batch["id"]]

    async def spawned() -> bool:
        return len(await list_all(user, parent_job_id=batch["id"])) == 3

    await wait_until(spawned)
    children = await list_all(user, parent_job_id=batch["id"])
    assert sorted(c["type"] for c in children) == [0, 0, 0]
    assert {c["user_id"] for c in children} == {batch["user_id"]}
    assert ids(await list_all(user)) == [batch["id"]]
    assert ids(await list_all(user, type=0)) == []


async def test_users_see_their_own_jobs_and_the_admin_sees_all(api: Service) -> None:
    alice = await api.add_user("alice")
    bob = await api.add_user("bob")
    a = [await create(alice, NOVEL, url=f"https://example.com/a{i}") for i in range(3)]
    b = [await create(bob, NOVEL, url=f"https://example.com/b{i}") for i in range(2)]
    mine = await create(api.admin)
    alice_id, bob_id = a[0]["user_id"], b[0]["user_id"]
    assert alice_id != bob_id
    assert ids(await list_all(alice)) == ids(a)[::-1]
    assert ids(await list_all(bob)) == ids(b)[::-1]
    # a user filtering by someone else gets nothing, not their jobs
    assert await list_all(alice, user_id=bob_id) == []
    assert ids(await list_all(alice, user_id=alice_id)) == ids(a)[::-1]
    everything = ids(await list_all(api.admin))
    assert everything == [mine["id"], *ids(b)[::-1], *ids(a)[::-1]]
    assert ids(await list_all(api.admin, user_id=bob_id)) == ids(b)[::-1]
    assert ids(await list_all(api.admin, user_id=alice_id)) == ids(a)[::-1]
    assert ids(await list_all(api.admin, user_id=mine["user_id"])) == [mine["id"]]
    for job in a:
        assert await get_job(api.admin, job["id"]) == job
