"""Bad input: every error is JSON `{status_code, detail, field}`, never a 500, never a job."""

from __future__ import annotations

from typing import Any

from tests.integration.api.helpers import (
    ARTIFACTS,
    CHAPTERS,
    IMAGES,
    NOVEL,
    VALID_BODIES,
    VOLUMES,
    assert_error,
    create,
    job_routes,
    list_all,
)
from tests.support import Service

JSON = {"Content-Type": "application/json"}
HUGE = "9" * 30  # beyond any 64-bit integer

# Bodies wrong for every create endpoint, with the field the error must name.
COMMON_BAD: list[tuple[dict[str, Any], str]] = [
    ({"priority": 3}, "priority"),
    ({"priority": -1}, "priority"),
    ({"priority": "high"}, "priority"),
    ({"priority": True}, "priority"),
    ({"priority": 1.5}, "priority"),
    ({"depends_on": 7}, "depends_on"),
    ({"depends_on": "../etc"}, "depends_on"),
    ({"depends_on": ""}, "depends_on"),
    ({"parent_job_id": ["x"]}, "parent_job_id"),
    ({"parent_job_id": "a b"}, "parent_job_id"),
    ({"surprise": 1}, "surprise"),
    ({"job_title": "mine"}, "job_title"),
    ({"user_id": "someone-else"}, "user_id"),
]

# Bodies wrong for one endpoint (complete bodies, not merged with a valid one).
OWN_BAD: list[tuple[str, dict[str, Any], str]] = [
    (NOVEL, {}, "url"),
    (NOVEL, {"full": True}, "url"),
    (NOVEL, {"url": 5}, "url"),
    (NOVEL, {"url": None}, "url"),
    (NOVEL, {"url": "not a url"}, "url"),
    (NOVEL, {"url": "ftp://example.com/x"}, "url"),
    (NOVEL, {"url": "https://example.com/" + "a" * 5000}, "url"),
    (NOVEL, {"url": "https://example.com/n", "full": "yes"}, "full"),
    (NOVEL, {"url": "https://example.com/n", "volumes": ["v"]}, "volumes"),
    (VOLUMES, {}, "volumes"),
    (VOLUMES, {"volumes": []}, "volumes"),
    (VOLUMES, {"volumes": "v1"}, "volumes"),
    (VOLUMES, {"volumes": None}, "volumes"),
    (VOLUMES, {"volumes": [1]}, "volumes"),
    (VOLUMES, {"volumes": [""]}, "volumes"),
    (VOLUMES, {"volumes": ["v1", {"id": "v2"}]}, "volumes"),
    (VOLUMES, {"chapters": ["c1"]}, "chapters"),
    (CHAPTERS, {}, "chapters"),
    (CHAPTERS, {"chapters": []}, "chapters"),
    (CHAPTERS, {"chapters": {"c1": 1}}, "chapters"),
    (CHAPTERS, {"chapters": [None]}, "chapters"),
    (IMAGES, {}, "images"),
    (IMAGES, {"images": []}, "images"),
    (IMAGES, {"images": 3}, "images"),
    (IMAGES, {"images": ["x" * 201]}, "images"),
    (ARTIFACTS, {"formats": ["epub"]}, "novel_id"),
    (ARTIFACTS, {"novel_id": "", "formats": ["epub"]}, "novel_id"),
    (ARTIFACTS, {"novel_id": 1, "formats": ["epub"]}, "novel_id"),
    (ARTIFACTS, {"novel_id": "n"}, "formats"),
    (ARTIFACTS, {"novel_id": "n", "formats": []}, "formats"),
    (ARTIFACTS, {"novel_id": "n", "formats": "epub"}, "formats"),
    (ARTIFACTS, {"novel_id": "n", "formats": [1]}, "formats"),
    (ARTIFACTS, {"novel_id": "n", "formats": ["zip"]}, "formats"),
    (ARTIFACTS, {"novel_id": "n", "formats": ["EPUB"]}, "formats"),
    (ARTIFACTS, {"novel_id": "n", "formats": ["epub", "docx2"]}, "formats"),
]

# Query strings wrong for the list, with the field the error must name.
LIST_BAD: list[tuple[dict[str, str], str]] = [
    ({"limit": "101"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-5"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": "1.5"}, "offset"),
    ({"offset": HUGE}, "offset"),
    ({"type": "novel"}, "type"),
    ({"type": HUGE}, "type"),
    ({"type": "-" + HUGE}, "type"),
    ({"status": "done"}, "status"),
    ({"status": HUGE}, "status"),
    ({"priority": "high"}, "priority"),
    ({"priority": HUGE}, "priority"),
    ({"is_done": "maybe"}, "is_done"),
    ({"category": "books"}, "category"),
    ({"range": "7x"}, "range"),
    ({"range": "7"}, "range"),
    ({"range": "d"}, "range"),
    ({"range": "-7d"}, "range"),
    ({"range": "123456d"}, "range"),
    ({"range": "7 d"}, "range"),
]


async def test_bad_bodies_are_422_naming_the_field(api: Service) -> None:
    user = await api.add_user("u")
    cases = [(p, {**VALID_BODIES[p], **bad}, f) for p in VALID_BODIES for bad, f in COMMON_BAD]
    cases += OWN_BAD
    for path, body, field in cases:
        status, error = await user.call("POST", path, json=body)
        assert status != 500, (path, body)
        assert_error(status, error, 422)
        assert error["field"] is not None and error["field"].startswith(field), (body, error)
        assert field in error["detail"], (body, error)
    assert await list_all(user) == [], "a refused request created a job"


async def test_malformed_or_missing_json_is_400(api: Service) -> None:
    user = await api.add_user("u")
    bad = [b"{not json", b'{"url": "https://example.com/n",}', b"{", b"   ", b"", b"\xff\xfe"]
    for path in VALID_BODIES:
        for data in bad:
            status, error = await user.call("POST", path, data=data, headers=JSON)
            assert_error(status, error, 400)
            assert "JSON" in error["detail"], error
        # a form post is not JSON either
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, error = await user.call("POST", path, data=b"url=x", headers=form)
        assert_error(status, error, 400)
        # valid JSON of the wrong shape
        for body in ([VALID_BODIES[path]], "text", 1):
            status, error = await user.call("POST", path, json=body)
            assert_error(status, error, 422)
            assert "object" in error["detail"], error
    assert await list_all(user) == []


async def test_bad_query_parameters_are_422_naming_the_field(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    for params, field in LIST_BAD:
        status, error = await user.call("GET", "/api/jobs", params=params)
        assert_error(status, error, 422, field)
    for params, field in [
        ({"limit": "101"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": HUGE}, "offset"),
    ]:
        status, error = await user.call("GET", f"/api/job/{job['id']}/events", params=params)
        assert_error(status, error, 422, field)
    # the bounds themselves are fine
    for params in ({"limit": "100"}, {"limit": "1"}, {"offset": "0"}, {"range": "99999w"}):
        status, page = await user.call("GET", "/api/jobs", params=params)
        assert status == 200, (params, page)
    # unknown query parameters are ignored
    status, page = await user.call("GET", "/api/jobs", params={"colour": "blue"})
    assert status == 200 and page["total"] == 1


async def test_idempotency_key_too_long_is_422_naming_the_header(api: Service) -> None:
    user = await api.add_user("u")
    headers = {"Idempotency-Key": "k" * 201}
    status, error = await user.call("POST", NOVEL, json=VALID_BODIES[NOVEL], headers=headers)
    assert_error(status, error, 422, "Idempotency-Key")
    assert await list_all(user) == []


async def test_unknown_job_is_404_on_every_endpoint(api: Service) -> None:
    user = await api.add_user("u")
    for job_id in ("01HZZZZZZZZZZZZZZZZZZZZZZZ", "nope", "x" * 300, "%20", "job%2Fother"):
        for method, path in job_routes(job_id):
            status, error = await user.call(method, path)
            assert_error(status, error, 404)
    assert await list_all(user) == []


async def test_unknown_routes_and_methods_answer_json(api: Service) -> None:
    status, error = await api.admin.call("GET", "/api/nothing-here")
    assert_error(status, error, 404)
    status, error = await api.admin.call("PUT", "/api/jobs")
    assert_error(status, error, 405)
    status, error = await api.admin.call("GET", NOVEL)
    assert_error(status, error, 405)
