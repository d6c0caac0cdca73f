"""Who may open which stream: bearer tokens, signed stream tokens, other users' jobs."""

from __future__ import annotations

import aiohttp

from tests.integration.streams.helpers import crawl, stream
from tests.sites.testsite import SiteHandle
from tests.support import Client, Service


async def _status(client: Client, path: str, **kw: object) -> tuple[int, object]:
    async with client.session.get(client.base + path, **kw) as resp:  # type: ignore[arg-type]
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body


async def test_streams_need_a_token_and_hide_other_users_jobs(
    working: Service, site: SiteHandle
) -> None:
    alice, bob = await working.add_user("alice"), await working.add_user("bob")
    job_id = await crawl(alice, site.base_url)
    path = f"/api/job/{job_id}/stream"
    status, body = await _status(alice.as_user(None), path)
    assert status == 401, body
    status, _ = await _status(alice, path, headers={"Authorization": "Bearer nope"})
    assert status == 401
    status, _ = await _status(bob, path, headers={"Authorization": f"Bearer {bob.token}"})
    assert status == 404
    status, _ = await _status(alice, "/api/job/01ZZZZZZZZZZZZZZZZZZZZZZZZ/stream",
                              headers={"Authorization": f"Bearer {alice.token}"})  # fmt: skip
    assert status == 404
    frames = await stream(alice, path)
    assert frames[0].event == "snapshot" and frames[-1].event == "done"


async def test_a_stream_token_opens_only_its_users_streams(
    working: Service, site: SiteHandle
) -> None:
    alice, bob = await working.add_user("alice"), await working.add_user("bob")
    job_id = await crawl(alice, site.base_url)
    status, issued = await alice.call("POST", "/api/stream-token")
    assert status == 201, issued
    token = issued["token"]
    by_token = alice.as_user(None)
    frames = await stream(by_token, f"/api/job/{job_id}/stream", params={"token": token})
    assert frames[-1].event == "done"
    feed_status, _ = await _status(by_token, "/api/jobs/stream", params={"token": token},
                                   timeout=aiohttp.ClientTimeout(sock_read=0.5))  # fmt: skip
    assert feed_status == 200
    _, bob_token = await bob.call("POST", "/api/stream-token")
    status, _ = await _status(by_token, f"/api/job/{job_id}/stream",
                              params={"token": bob_token["token"]})  # fmt: skip
    assert status == 404
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    status, body = await _status(by_token, f"/api/job/{job_id}/stream", params={"token": forged})
    assert status == 401 and "stream token" in body["detail"]  # type: ignore[index]
    # A stream token cannot mint another one: only a bearer token can.
    status, _ = await by_token.call("POST", f"/api/stream-token?token={token}")
    assert status == 401


async def test_a_malformed_last_event_id_is_a_422_naming_it(working: Service) -> None:
    client = working.admin
    status, job = await client.call(
        "POST", "/api/job/create/scrape", json={"urls": ["http://x.invalid/"]}
    )
    assert status == 201, job
    status, body = await _status(
        client, f"/api/job/{job['id']}/stream",
        headers={"Authorization": f"Bearer {client.token}", "Last-Event-ID": "12abc"},
    )  # fmt: skip
    assert status == 422
    assert body["field"] == "Last-Event-ID"  # type: ignore[index]
