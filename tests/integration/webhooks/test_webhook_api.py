"""The webhook endpoints: create, list, delete, per-user isolation, and their 4xx answers."""

from __future__ import annotations

from typing import Any

from tests.integration.api.helpers import assert_error
from tests.integration.webhooks.helpers import add_hook
from tests.integration.webhooks.receiver import Receiver
from tests.support import Service

EVENTS = ["job.started", "job.page", "job.completed", "job.failed", "job.canceled"]


async def test_create_shows_the_secret_once_and_lists_without_it(
    hooked: Service, receiver: Receiver
) -> None:
    body = {"url": receiver.hook("a"), "events": EVENTS, "description": "all of it"}
    status, hook = await hooked.admin.call("POST", "/api/webhooks", json=body)
    assert status == 201, hook
    assert set(hook) == {"id", "url", "events", "description", "created_at", "secret"}
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert (hook["url"], hook["events"], hook["description"]) == (body["url"], EVENTS, "all of it")
    status, listed = await hooked.admin.call("GET", "/api/webhooks")
    assert status == 200
    assert listed == [{k: v for k, v in hook.items() if k != "secret"}]


async def test_repeated_event_names_are_kept_once(hooked: Service, receiver: Receiver) -> None:
    hook = await add_hook(hooked.admin, receiver.hook("a"), "job.failed", "job.failed")
    assert hook["events"] == ["job.failed"]


async def test_users_see_and_delete_only_their_own(hooked: Service, receiver: Receiver) -> None:
    alice = await hooked.add_user("alice")
    bob = await hooked.add_user("bob")
    hook = await add_hook(alice, receiver.hook("a"), "job.failed")
    status, listed = await bob.call("GET", "/api/webhooks")
    assert (status, listed) == (200, [])
    for method, path in (
        ("DELETE", f"/api/webhooks/{hook['id']}"),
        ("GET", f"/api/webhooks/{hook['id']}/deliveries"),
        ("DELETE", "/api/webhooks/wh_unknown"),
    ):
        status, body = await bob.call(method, path)
        assert_error(status, body, 404)
    status, ok = await alice.call("DELETE", f"/api/webhooks/{hook['id']}")
    assert (status, ok) == (200, True)
    assert (await alice.call("GET", "/api/webhooks"))[1] == []
    status, body = await alice.call("DELETE", f"/api/webhooks/{hook['id']}")
    assert_error(status, body, 404)


async def test_no_token_is_401(hooked: Service) -> None:
    status, body = await hooked.admin.as_user(None).call("GET", "/api/webhooks")
    assert_error(status, body, 401)


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"url": "ftp://example.com/hook", "events": ["job.failed"]}, "url"),
    ({"url": "http:///no-host", "events": ["job.failed"]}, "url"),
    ({"url": "not a url", "events": ["job.failed"]}, "url"),
    ({"url": "http://example.com:99999/", "events": ["job.failed"]}, "url"),
    ({"url": "https://example.com/hook", "events": ["job.done"]}, "events"),
    ({"url": "https://example.com/hook", "events": []}, "events"),
]
MALFORMED: list[dict[str, Any]] = [
    {"events": ["job.failed"]},
    {"url": "https://example.com/hook"},
    {"url": 5, "events": ["job.failed"]},
    {"url": "https://example.com/hook", "events": "job.failed"},
    {"url": "https://example.com/hook", "events": ["job.failed"], "secret": "mine"},
]
PRIVATE = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "https://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:9000/hook",
    "http://[::ffff:127.0.0.1]/hook",
]


async def test_invalid_fields_are_422_naming_the_field(guarded: Service) -> None:
    for body, field in INVALID:
        status, answer = await guarded.admin.call("POST", "/api/webhooks", json=body)
        assert_error(status, answer, 422, field)


async def test_malformed_bodies_are_4xx_not_500(guarded: Service) -> None:
    for body in MALFORMED:
        status, answer = await guarded.admin.call("POST", "/api/webhooks", json=body)
        assert 400 <= status < 500, (body, answer)
        assert answer["status_code"] == status


async def test_private_network_targets_are_refused(guarded: Service) -> None:
    for url in PRIVATE:
        body = {"url": url, "events": ["job.failed"]}
        status, answer = await guarded.admin.call("POST", "/api/webhooks", json=body)
        assert_error(status, answer, 422, "url")
        assert "private" in answer["detail"], answer
    assert (await guarded.admin.call("GET", "/api/webhooks"))[1] == []


async def test_a_user_has_at_most_twenty_webhooks(hooked: Service, receiver: Receiver) -> None:
    for i in range(20):
        await add_hook(hooked.admin, receiver.hook(str(i)), "job.failed")
    status, body = await hooked.admin.call(
        "POST", "/api/webhooks", json={"url": receiver.hook("x"), "events": ["job.failed"]}
    )
    assert_error(status, body, 409)
