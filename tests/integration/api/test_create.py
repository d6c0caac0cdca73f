"""The five create endpoints: job type, title, total, priority, references, every Job field."""

from __future__ import annotations

from typing import Any

import pytest

from engine.domain.model import BATCH_TYPES, Tier
from engine.service import now_ms
from tests.integration.api.helpers import (
    ARTIFACTS,
    CHAPTERS,
    IMAGES,
    JOB_FIELDS,
    NOVEL,
    SHELF_CHAPTERS,
    SHELF_IMAGE,
    SHELF_VOLUMES,
    VALID_BODIES,
    VOLUMES,
    assert_error,
    create,
    events,
    in_library,
    list_all,
)
from tests.integration.novels.shelf import MAP_URL, NOVEL_ID, TITLE, contents
from tests.support import Service, get_job

V1, V2 = SHELF_VOLUMES
C = SHELF_CHAPTERS
IMAGE = SHELF_IMAGE


def _chapter(serial: int, *, own: bool = False) -> dict[str, Any]:
    """A chapter of `in_library`'s novel as a job's params hold it (`own`: naming its
    novel and source, as a batch's chapters do)."""
    info = contents(2, 3)[1][serial - 1]
    item: dict[str, Any] = {"id": info.id, "url": info.url, "title": info.title, "serial": serial}
    return {**item, "novel_id": NOVEL_ID, "source": "test"} if own else item


def _volume(n: int, *, refresh: bool = False, titled: bool = False) -> dict[str, Any]:
    """A VOLUME's params for volume `n` (of three chapters) of `in_library`'s novel."""
    params = {
        "novel_id": NOVEL_ID, "volume_id": f"{NOVEL_ID}-v{n}", "source": "test",
        "chapters": [_chapter(s) for s in range(3 * n - 2, 3 * n + 1)], "refresh": refresh,
    }  # fmt: skip
    return {**params, "title": f"{TITLE} · Volume {n}"} if titled else params


CASES: list[tuple[str, dict[str, Any], int, int, str, dict[str, Any]]] = [
    # path, body, type, total, job_title, params
    # fetch-novel puts the source it resolved in the params (x.test has none but the named one)
    (NOVEL, {"url": "https://x.test/n.html", "source": "novelfull"}, 0, 1,
     "https://x.test/n.html",
     {"url": "https://x.test/n.html", "full": False, "source": "novelfull"}),
    (NOVEL, {"url": "https://x.test/n.html", "full": True, "source": "madara"}, 5, 1,
     "https://x.test/n.html", {"url": "https://x.test/n.html", "full": True, "source": "madara"}),
    (NOVEL, {"url": "http://x.test/a", "full": False, "source": "novelfull"}, 0, 1,
     "http://x.test/a", {"url": "http://x.test/a", "full": False, "source": "novelfull"}),
    # several URLs make a batch; a repeated URL is one novel
    (NOVEL, {"urls": ["http://x.test/a", "http://x.test/b", "http://x.test/a"],
             "source": "novelfull"}, 1, 2, "2 novels",
     {"urls": ["http://x.test/a", "http://x.test/b"], "full": False,
      "sources": {"http://x.test/a": "novelfull", "http://x.test/b": "novelfull"}}),
    (NOVEL, {"urls": ["http://x.test/a"], "full": True, "source": "madara"}, 6, 1, "1 novel",
     {"urls": ["http://x.test/a"], "full": True, "sources": {"http://x.test/a": "madara"}}),
    # the library creates resolve ids of the caller's library (`in_library`'s novel, read by
    # a source named "test") into what the workers fetch; progress counts a volume's chapters
    (VOLUMES, {"volumes": [V1]}, 20, 3, f"{TITLE} · Volume 1", _volume(1)),
    (VOLUMES, {"volumes": [V1, V2, V1], "refresh": True}, 21, 2, f"{TITLE} · 2 volumes",
     {"volumes": [_volume(1, refresh=True, titled=True), _volume(2, refresh=True, titled=True)]}),
    # one chapter asked for alone is fetched again, several are not (unless `refresh`)
    (CHAPTERS, {"chapters": [C[0]]}, 10, 1, f"{TITLE} · Chapter 1",
     {"novel_id": NOVEL_ID, "source": "test", "chapters": [_chapter(1)], "refresh": True}),
    (CHAPTERS, {"chapters": [C[0]], "refresh": False}, 10, 1, f"{TITLE} · Chapter 1",
     {"novel_id": NOVEL_ID, "source": "test", "chapters": [_chapter(1)], "refresh": False}),
    (CHAPTERS, {"chapters": [C[0], C[4]]}, 11, 2, f"{TITLE} · 2 chapters",
     {"chapters": [_chapter(1, own=True), _chapter(5, own=True)], "refresh": False}),
    # one image asked for alone is fetched again (unless `refresh` is false); each names the
    # page it is shown on
    (IMAGES, {"images": [IMAGE, IMAGE]}, 30, 1, f"{TITLE} · Image",
     {"novel_id": NOVEL_ID, "refresh": True, "images": [
         {"id": IMAGE, "url": MAP_URL, "chapter_id": C[0], "referer": _chapter(1)["url"]}]}),
    (IMAGES, {"images": [IMAGE], "refresh": False}, 30, 1, f"{TITLE} · Image",
     {"novel_id": NOVEL_ID, "refresh": False, "images": [
         {"id": IMAGE, "url": MAP_URL, "chapter_id": C[0], "referer": _chapter(1)["url"]}]}),
    # make-artifacts names the novel's table of contents (`toc_job_id`) too: added below
    (ARTIFACTS, {"novel_id": NOVEL_ID, "formats": ["epub"]}, 40, 1, f"{TITLE} · epub",
     {"novel_id": NOVEL_ID, "formats": ["epub"]}),
    (ARTIFACTS, {"novel_id": NOVEL_ID, "formats": ["epub", "txt", "json"]}, 41, 3,
     f"{TITLE} · epub, txt, json", {"novel_id": NOVEL_ID, "formats": ["epub", "txt", "json"]}),
    # a repeated format is one artifact
    (ARTIFACTS, {"novel_id": NOVEL_ID, "formats": ["epub", "epub"]}, 40, 1, f"{TITLE} · epub",
     {"novel_id": NOVEL_ID, "formats": ["epub"]}),
]  # fmt: skip


def _check_new_job(job: dict[str, Any], before: int, after: int) -> None:
    """A job fresh from a create: every Job field, not finished, ms timestamps of the request."""
    assert set(job) >= JOB_FIELDS, JOB_FIELDS - set(job)
    assert isinstance(job["id"], str) and job["id"]
    assert job["error"] is None and job["finished_at"] is None and job["is_done"] is False
    assert (job["done"], job["failed"], job["progress"]) == (0, 0, 0)
    # milliseconds since the epoch, taken while the request ran
    assert before <= job["created_at"] <= after
    if job["type"] in BATCH_TYPES:
        # the dispatcher starts a batch (spawning its children) as soon as it is created
        assert job["status"] in (0, 1)
        return
    assert job["status"] == 0
    assert (job["is_pending"], job["is_running"]) == (True, False)
    assert job["started_at"] is None
    assert job["updated_at"] == job["created_at"]


async def test_every_create_endpoint_makes_the_right_job(api: Service) -> None:
    user = await api.add_user("u")
    shelf = await in_library(api, user)
    for path, body, job_type, total, title, params in CASES:
        if path == ARTIFACTS:
            params = {**params, "toc_job_id": shelf.toc_job_id}
        before = now_ms()
        status, job = await user.call("POST", path, json=body)
        after = now_ms()
        assert status == 201, (path, body, job)
        _check_new_job(job, before, after)
        assert (job["type"], job["total"], job["job_title"]) == (job_type, total, title), body
        assert job["priority"] == 0  # basic tier, none in the body
        assert job["parent_job_id"] is None and job["depends_on"] is None
        assert job["extra"] == {}
        assert job["category"] == ("export" if path == ARTIFACTS else "sync")
        # read-your-writes: the read model has it the moment the response arrives
        got = await get_job(user, job["id"])
        if job_type in BATCH_TYPES:
            assert got["status"] in (0, 1) and got["created_at"] == job["created_at"]
        else:
            assert got == job
            assert len(await events(user, job["id"])) == 1
        created = (await events(user, job["id"]))[0]
        assert created["kind"] == "created"
        assert created["data"]["params"] == params
        assert created["data"]["type"] == job_type
        assert created["time"] == job["created_at"]
    ids = [j["id"] for j in await list_all(user) if j["id"] != shelf.toc_job_id]
    assert len(ids) == len(CASES) == len(set(ids))


@pytest.mark.parametrize("path", list(VALID_BODIES))
async def test_priority_comes_from_the_tier_unless_given(api: Service, path: str) -> None:
    expected = {Tier.BASIC: 0, Tier.PREMIUM: 1, Tier.VIP: 2}
    for tier, priority in expected.items():
        client = await api.add_user(f"user-{tier.value}", tier=tier)
        await in_library(api, client)
        job = await create(client, path, **VALID_BODIES[path])
        assert job["priority"] == priority, tier
        for given in (0, 1, 2):
            job = await create(client, path, **VALID_BODIES[path], priority=given)
            assert job["priority"] == given, (tier, given)
            assert (await get_job(client, job["id"]))["priority"] == given


@pytest.mark.parametrize("path", list(VALID_BODIES))
async def test_depends_on_and_parent_are_stored(api: Service, path: str) -> None:
    user = await api.add_user("u")
    await in_library(api, user)
    parent = await create(user)
    dependency = await create(user)
    body = {**VALID_BODIES[path], "depends_on": dependency["id"], "parent_job_id": parent["id"]}
    job = await create(user, path, **body)
    assert job["depends_on"] == dependency["id"]
    assert job["parent_job_id"] == parent["id"]
    assert await get_job(user, job["id"]) == job
    (created,) = await events(user, job["id"])
    assert created["data"]["depends_on"] == dependency["id"]
    assert created["data"]["parent_job_id"] == parent["id"]


@pytest.mark.parametrize("path", list(VALID_BODIES))
async def test_unknown_references_are_422_naming_the_field(api: Service, path: str) -> None:
    user = await api.add_user("u")
    other = await api.add_user("other")
    shelf = await in_library(api, user)
    foreign = await create(other)  # exists, but not visible to `user`
    gone = await create(user)
    assert (await user.call("DELETE", f"/api/job/{gone['id']}"))[0] == 200
    for field in ("depends_on", "parent_job_id"):
        for ref in ("01HZZZZZZZZZZZZZZZZZZZZZZZ", foreign["id"], gone["id"]):
            status, body = await user.call("POST", path, json={**VALID_BODIES[path], field: ref})
            assert_error(status, body, 422, field)
            assert ref in body["detail"]
    assert [j["id"] for j in await list_all(user)] == [shelf.toc_job_id]


async def test_admin_may_reference_any_users_job(api: Service) -> None:
    user = await api.add_user("u")
    await in_library(api, user)  # admins see every novel: the user's volume is admin's too
    job = await create(user)
    child = await create(api.admin, VOLUMES, volumes=[V1], parent_job_id=job["id"])
    assert child["parent_job_id"] == job["id"]
    assert child["user_id"] != job["user_id"]


@pytest.mark.parametrize(
    ("tier", "allowed", "refused"),
    [
        (Tier.BASIC, ["epub", "json", "txt"], ["pdf", "mobi", "azw3"]),
        (Tier.PREMIUM, ["pdf", "mobi", "docx", "rtf", "fb2"], ["azw3", "tcr"]),
        (Tier.VIP, ["azw3", "lit", "lrf", "pdb", "rb", "tcr", "pdf"], []),
    ],
)
async def test_formats_follow_the_tier(
    api: Service, tier: Tier, allowed: list[str], refused: list[str]
) -> None:
    user = await api.add_user("u", tier=tier)
    shelf = await in_library(api, user)
    job = await create(user, ARTIFACTS, novel_id=NOVEL_ID, formats=allowed)
    assert (job["type"], job["total"]) == (41, len(allowed))
    for fmt in refused:
        for formats in ([fmt], ["epub", fmt]):
            status, body = await user.call(
                "POST", ARTIFACTS, json={"novel_id": NOVEL_ID, "formats": formats}
            )
            assert_error(status, body, 403)
            assert "formats" in body["detail"] and fmt in body["detail"]
    assert {j["id"] for j in await list_all(user)} == {job["id"], shelf.toc_job_id}
