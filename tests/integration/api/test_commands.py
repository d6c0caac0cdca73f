"""Cancel, delete and replay, each reflected by the very next read."""

from __future__ import annotations

from engine.domain.model import JobType, Tier
from engine.service import now_ms
from tests.integration.api.helpers import (
    CHAPTERS,
    IMAGES,
    NOVEL,
    SCRAPE,
    SHELF_CHAPTERS,
    SHELF_IMAGE,
    SHELF_VOLUMES,
    VOLUMES,
    artifact_params,
    assert_error,
    create,
    create_directly,
    events,
    finish,
    in_library,
    job_routes,
    list_all,
    log_kinds,
    start,
)
from tests.support import Service, get_job, shows_status, wait_until


async def test_cancel_a_pending_job_at_once(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    before = now_ms()
    assert await user.call("POST", f"/api/job/{job['id']}/cancel") == (200, True)
    after = now_ms()
    got = await get_job(user, job["id"])
    assert got["status"] == 4
    assert (got["is_done"], got["is_pending"], got["is_running"]) == (True, False, False)
    assert before <= got["finished_at"] <= after
    assert got["updated_at"] == got["finished_at"]
    assert got["error"] is None
    assert got["started_at"] is None
    assert await log_kinds(api, job["id"]) == ["created", "canceled"]
    assert (await events(user, job["id"]))[-1]["data"] == {"reason": "canceled by user"}


async def test_cancel_a_running_job_asks_it_to_stop(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    await start(api, job["id"])
    running = await get_job(user, job["id"])
    assert (running["status"], running["is_running"]) == (1, True)
    assert running["started_at"] is not None
    assert await user.call("POST", f"/api/job/{job['id']}/cancel") == (200, True)
    # cooperative: the job runs until its worker stops it
    assert (await get_job(user, job["id"]))["status"] == 1
    assert await user.call("POST", f"/api/job/{job['id']}/cancel") == (200, True)
    assert await log_kinds(api, job["id"]) == ["created", "started", "cancel_requested"]
    await finish(api, job["id"], ok=True)
    assert (await get_job(user, job["id"]))["status"] == 4


async def test_cancel_a_finished_job_is_409_and_appends_nothing(api: Service) -> None:
    user = await api.add_user("u")
    canceled = await create(user)
    assert (await user.call("POST", f"/api/job/{canceled['id']}/cancel"))[0] == 200
    succeeded = await create(user, SCRAPE, urls=["https://example.com/s"])
    await start(api, succeeded["id"])
    await finish(api, succeeded["id"], ok=True)
    failed = await create_directly(api, user, JobType.IMAGE, {"images": ["i"]})
    await start(api, failed["id"])
    await finish(api, failed["id"], ok=False, error="boom")
    assert (await get_job(user, succeeded["id"]))["progress"] == 100
    failed_job = await get_job(user, failed["id"])
    assert (failed_job["status"], failed_job["error"]) == (3, "boom")
    for job, status in ((canceled, 4), (succeeded, 2), (failed, 3)):
        before = await get_job(user, job["id"])
        assert before["status"] == status
        count = len(await events(user, job["id"]))
        code, error = await user.call("POST", f"/api/job/{job['id']}/cancel")
        assert_error(code, error, 409)
        assert job["id"] in error["detail"]
        assert len(await events(user, job["id"])) == count
        assert len(await log_kinds(api, job["id"])) == count
        assert await get_job(user, job["id"]) == before


async def test_delete_hides_the_job_but_keeps_its_history(api: Service) -> None:
    user = await api.add_user("u")
    keep = await create(user, NOVEL, url="https://example.com/keep")
    pending = await create(user)
    running = await create_directly(api, user, JobType.VOLUME, {"volumes": ["v"]})
    await start(api, running["id"])
    done = await create_directly(api, user, JobType.ARTIFACT, artifact_params("txt"))
    assert (await user.call("POST", f"/api/job/{done['id']}/cancel"))[0] == 200

    for job in (pending, running, done):
        assert await user.call("DELETE", f"/api/job/{job['id']}") == (200, True)
        for method, path in job_routes(job["id"]):
            status, error = await user.call(method, path)
            assert_error(status, error, 404)
            status, error = await api.admin.call(method, path)
            if method == "GET":  # admins keep a deleted job's history (docs/decisions.md)
                assert status == 200, error
                continue
            assert_error(status, error, 404)
        assert (await get_job(api.admin, job["id"]))["deleted"] is True
    assert [j["id"] for j in await list_all(user)] == [keep["id"]]
    assert [j["id"] for j in await list_all(api.admin)] == [keep["id"]]
    assert await list_all(user, status=4) == []
    # the log still has everything, ending with the deletion
    assert await log_kinds(api, pending["id"]) == ["created", "canceled", "deleted"]
    assert await log_kinds(api, running["id"]) == [
        "created",
        "started",
        "cancel_requested",
        "deleted",
    ]
    assert await log_kinds(api, done["id"]) == ["created", "canceled", "deleted"]
    # a deleted job cannot be referenced any more
    status, error = await user.call("POST", NOVEL, json={**_novel(), "depends_on": pending["id"]})
    assert_error(status, error, 422, "depends_on")


def _novel() -> dict[str, str]:
    return {"url": "https://example.com/n", "source": "novelfull"}


async def test_replay_makes_a_new_job_with_the_same_work(api: Service) -> None:
    user = await api.add_user("u")
    await in_library(api, user)
    parent = await create(user)
    chapter = SHELF_CHAPTERS[:1]
    original = await create(
        user, CHAPTERS, chapters=chapter, priority=2, parent_job_id=parent["id"]
    )
    snapshot = await get_job(user, original["id"])

    status, replay = await user.call("POST", f"/api/job/{original['id']}/replay")
    assert status == 201, replay
    assert replay["id"] != original["id"]
    for field in ("type", "total", "job_title", "priority", "parent_job_id", "user_id"):
        assert replay[field] == original[field], field
    assert replay["extra"] == {"replay_of": original["id"]}
    assert replay["is_done"] is False
    assert replay["created_at"] >= original["created_at"]
    # read-your-writes, and the original is untouched
    got = await get_job(user, replay["id"])
    assert got == replay
    assert await get_job(user, original["id"]) == snapshot
    first = (await events(user, original["id"]))[0]["data"]
    again = (await events(user, replay["id"]))[0]["data"]
    assert again["params"] == first["params"]
    assert [c["id"] for c in first["params"]["chapters"]] == chapter
    assert again["type"] == first["type"]

    # a replay of a replay points at the replay
    status, second = await user.call("POST", f"/api/job/{replay['id']}/replay")
    assert status == 201
    assert second["extra"] == {"replay_of": replay["id"]}


async def test_replay_of_every_kind_of_job(api: Service) -> None:
    user = await api.add_user("u", tier=Tier.PREMIUM)
    await in_library(api, user)  # a NOVEL job of the user's: the 13th job below
    jobs = [
        await create(user, NOVEL, url="https://example.com/n", full=True),
        await create(user, CHAPTERS, chapters=SHELF_CHAPTERS[:1]),
        await create(user, IMAGES, images=[SHELF_IMAGE]),
        await create_directly(api, user, JobType.ARTIFACT, artifact_params("pdf")),
        await create_directly(api, user, JobType.ARTIFACT_BATCH, artifact_params("pdf", "epub")),
        await create(user, VOLUMES, volumes=SHELF_VOLUMES),
    ]
    for job in jobs:
        status, replay = await user.call("POST", f"/api/job/{job['id']}/replay")
        assert status == 201
        assert (replay["type"], replay["priority"], replay["job_title"]) == (
            job["type"],
            job["priority"],
            job["job_title"],
        )
        first = (await events(user, job["id"]))[0]["data"]["params"]
        assert (await events(user, replay["id"]))[0]["data"]["params"] == first
    assert len(await list_all(user)) == 13


async def test_every_command_is_visible_to_the_next_read(api: Service) -> None:
    user = await api.add_user("u")
    for i in range(10):
        status, job = await user.call(
            "POST", NOVEL, json={**_novel(), "url": f"https://example.com/{i}"}
        )
        assert status == 201
        assert (await list_all(user))[0]["id"] == job["id"]
        assert (await get_job(user, job["id"]))["status"] == 0
        assert (await user.call("POST", f"/api/job/{job['id']}/cancel"))[0] == 200
        assert (await get_job(user, job["id"]))["status"] == 4
        assert (await list_all(user, status=4))[0]["id"] == job["id"]
        status, replay = await user.call("POST", f"/api/job/{job['id']}/replay")
        assert status == 201
        assert (await get_job(user, replay["id"]))["extra"]["replay_of"] == job["id"]
        assert (await user.call("DELETE", f"/api/job/{replay['id']}"))[0] == 200
        assert (await user.call("GET", f"/api/job/{replay['id']}"))[0] == 404
        assert replay["id"] not in [j["id"] for j in await list_all(user)]
    assert len(await list_all(user)) == 10


async def test_ending_a_child_leaves_a_plain_parent_alone(api: Service) -> None:
    user = await api.add_user("u")
    parent = await create(user)
    child = await create_directly(
        api, user, JobType.CHAPTER, {"chapters": ["c"]}, parent_job_id=parent["id"]
    )
    assert (await user.call("POST", f"/api/job/{child['id']}/cancel"))[0] == 200
    # the dispatcher handles the log in order: once it has started a batch created after the
    # cancel, it has reacted to the cancel
    marker = await create(user, NOVEL, urls=["https://example.com/1", "https://example.com/2"])
    await wait_until(lambda: shows_status(user, marker["id"], 1))
    assert await get_job(user, parent["id"]) == parent
    assert await log_kinds(api, parent["id"]) == ["created"]
