"""Webhooks and the private-network guard, against a loopback canary that must receive
nothing: registration refuses every disguise of 127.0.0.1 (and hosts no resolver would take,
as a 422 naming `url`), and deliveries to webhooks stored with such URLs are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from streams.signing import new_secret
from streams.webhook_http import make_session, post
from streams.webhook_store import Webhook, new_webhook_id
from tests.integration.api.helpers import assert_error
from tests.integration.canary import DISGUISES, Canary, serve_canary
from tests.integration.webhooks.helpers import api_of, attempts, drive, new_job, wait_settled
from tests.support import Service

HEADERS = {"content-type": "application/json"}
MALFORMED = [
    "http://a..b/hook",
    "http://.example.com/hook",
    f"http://{'x' * 64}.example/hook",
    f"http://{'.'.join(['a' * 60] * 5)}/hook",  # a 304-character host
    "http://256.0.0.1/hook",
]


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    async with serve_canary() as c:
        yield c


async def test_control_a_post_to_every_disguise_arrives_when_private_is_allowed(
    canary: Canary,
) -> None:
    async with make_session(allow_private=True, limit=4) as session:
        for host in DISGUISES:
            sent = await post(
                session, canary.origin(host) + "/hook", b"{}", HEADERS, timeout_s=5,
                allow_private=True,
            )  # fmt: skip
            assert sent.delivered, (host, sent)
    assert len(canary.hits) == len(DISGUISES)


async def test_a_post_to_any_disguise_is_refused_for_good(canary: Canary) -> None:
    async with make_session(allow_private=False, limit=4) as session:
        for host in DISGUISES:
            sent = await post(
                session, canary.origin(host) + "/hook", b"{}", HEADERS, timeout_s=5,
                allow_private=False,
            )  # fmt: skip
            assert not sent.delivered and not sent.retryable, (host, sent)
            assert sent.error is not None and sent.error.startswith("refused:"), sent
            assert "public" in sent.error, sent
    assert canary.hits == []


async def test_a_post_through_an_unguarded_session_is_refused(canary: Canary) -> None:
    async with make_session(allow_private=True, limit=4) as session:
        sent = await post(
            session, canary.origin("localhost") + "/hook", b"{}", HEADERS, timeout_s=5,
            allow_private=False,
        )  # fmt: skip
    assert not sent.delivered and sent.error is not None and "guard" in sent.error, sent
    assert canary.hits == []


async def test_registration_refuses_every_disguise(guarded: Service, canary: Canary) -> None:
    for host in DISGUISES:
        body = {"url": canary.origin(host) + "/hook", "events": ["job.failed"]}
        status, answer = await guarded.admin.call("POST", "/api/webhooks", json=body)
        assert_error(status, answer, 422, "url")
        assert "private" in answer["detail"], (host, answer)
    assert (await guarded.admin.call("GET", "/api/webhooks"))[1] == []
    assert canary.hits == []


async def _malformed_hosts_are_422_naming_url(service: Service) -> None:
    for url in MALFORMED:
        body = {"url": url, "events": ["job.failed"]}
        status, answer = await service.admin.call("POST", "/api/webhooks", json=body)
        assert_error(status, answer, 422, "url")
        assert "host" in answer["detail"], answer
    assert (await service.admin.call("GET", "/api/webhooks"))[1] == []


async def test_hosts_no_resolver_takes_are_422_naming_url(guarded: Service) -> None:
    """They used to be 500s (the idna codec failing inside getaddrinfo)."""
    await _malformed_hosts_are_422_naming_url(guarded)


async def test_hosts_no_resolver_takes_are_422_even_with_private_allowed(
    hooked: Service,
) -> None:
    await _malformed_hosts_are_422_naming_url(hooked)


async def test_deliveries_to_stored_disguises_are_refused(guarded: Service, canary: Canary) -> None:
    """Webhooks that got into the store anyway (registered before this guard, or DNS that
    changed since): every attempt is refused and recorded, none is sent."""
    admin = await guarded.runtime.users.resolve(guarded.admin.token)
    ids = []
    for host in DISGUISES:
        hook = Webhook(
            id=new_webhook_id(), user_id=admin.id, url=canary.origin(host) + "/hook",
            events=["job.completed"], secret=new_secret(), created_at=0, from_seq=0,
        )  # fmt: skip
        await api_of(guarded).store.add(hook)
        ids.append(hook.id)
    await drive(guarded, await new_job(guarded.admin), ok=True)
    await wait_settled(guarded)
    for hook_id in ids:
        [attempt] = await attempts(guarded.admin, hook_id)
        assert attempt["outcome"] == "failed" and attempt["status_code"] is None, attempt
        assert attempt["error"].startswith("refused:") and "public" in attempt["error"]
    assert canary.hits == []
