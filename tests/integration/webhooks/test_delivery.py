"""Webhook delivery against a real receiver: retries, signatures, stable ids, exactly one
success, give-up, filters, the private-network guard at delivery time."""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats.js.errors
from ulid import ULID

from engine.domain.model import JobType
from streams.errors import StreamsError
from streams.webhook_store import Webhook
from streams.webhooks import CONSUMER
from tests.integration.api.helpers import create_directly, engine
from tests.integration.webhooks.conftest import fast
from tests.integration.webhooks.helpers import (
    add_hook,
    api_of,
    attempts,
    drive,
    new_job,
    second_deliverer,
    wait_settled,
)
from tests.integration.webhooks.receiver import Receiver, verify
from tests.support import Service, run_service, wait_until


async def test_retried_until_delivered_signed_with_a_stable_id_and_never_resent(
    tmp_path: Path, nats_url: str, receiver: Receiver
) -> None:
    settings = fast(tmp_path / "data", nats_url)
    url = receiver.hook("flaky", "500", "429", "reset")
    async with run_service(settings) as svc:
        hook = await add_hook(svc.admin, url, "job.started", "job.failed")
        job_id = await new_job(svc.admin)
        await drive(svc, job_id, ok=False, error="boom")
        await wait_until(lambda: sum(r.answer == "200" for r in receiver.of("flaky")) >= 2)
        await wait_settled(svc)
        recorded = await attempts(svc.admin, hook["id"])

    first = receiver.of("flaky")
    by_id = Counter(r.message_id for r in first)
    assert sorted(by_id.values()) == [4, 4]  # two events, four attempts each, one id each
    now = int(time.time())
    assert all(verify(hook["secret"], r, now) for r in first)
    other = "whsec_" + base64.b64encode(b"some other key, thirty-two bytes").decode()
    assert not any(verify(other, r, now) for r in first)
    for msg_id in by_id:
        tries = [r for r in first if r.message_id == msg_id]
        assert [r.answer for r in tries] == ["500", "429", "reset", "200"]
        assert len({r.body for r in tries}) == 1  # the same payload on every attempt
    failed = next(r.json() for r in first if r.json()["type"] == "job.failed")
    assert failed["data"]["job_id"] == job_id and failed["data"]["status"] == "failed"
    assert failed["data"]["error"] == "boom" and failed["timestamp"].endswith("Z")

    assert len(recorded) == 8
    for msg_id in by_id:
        mine = [a for a in recorded if a["message_id"] == msg_id]
        assert [a["attempt"] for a in mine] == [1, 2, 3, 4]
        assert [a["status_code"] for a in mine] == [500, 429, None, 200]
        assert [a["outcome"] for a in mine] == ["retrying"] * 3 + ["delivered"]
        assert mine[2]["error"] and mine[3]["error"] is None and mine[3]["next_attempt_at"] is None
        assert {a["job_id"] for a in mine} == {job_id}
        # 429 with Retry-After: 1 waits the cap (0.2 s here), not the 20 ms backoff
        after_429 = mine[1]["next_attempt_at"] - mine[1]["at"] - mine[1]["duration_ms"]
        assert after_429 == 200
    assert {a["event_type"] for a in recorded} == {"job.started", "job.failed"}

    async with run_service(settings) as svc:  # a restart: the deliverer starts again
        later = await new_job(svc.admin)
        await drive(svc, later, ok=True)
        await wait_until(lambda: sum(r.answer == "200" for r in receiver.of("flaky")) >= 3)
        await wait_settled(svc)
    again = Counter(
        r.message_id for r in receiver.of("flaky") if r.json()["data"]["job_id"] == job_id
    )
    assert again == by_id  # nothing of the first job was sent again


async def test_a_retry_pending_across_a_restart_continues_where_it_was(
    tmp_path: Path, nats_url: str, receiver: Receiver
) -> None:
    settings = fast(tmp_path / "data", nats_url, webhook_backoff_s=1.0)
    url = receiver.hook("later", "500")
    async with run_service(settings) as svc:
        hook = await add_hook(svc.admin, url, "job.completed")
        await drive(svc, await new_job(svc.admin), ok=True)
        await wait_until(lambda: len(receiver.of("later")) >= 1)
    # stopped with the retry due in about a second: the log holds it, no process does
    async with run_service(settings) as svc:
        await wait_until(lambda: sum(r.answer == "200" for r in receiver.of("later")) >= 1)
        await wait_settled(svc)
        recorded = await attempts(svc.admin, hook["id"])
    assert [r.answer for r in receiver.of("later")] == ["500", "200"]
    assert len({r.message_id for r in receiver.of("later")}) == 1
    assert [(a["attempt"], a["outcome"]) for a in recorded] == [(1, "retrying"), (2, "delivered")]


async def test_a_4xx_answer_gets_exactly_one_attempt(hooked: Service, receiver: Receiver) -> None:
    hook = await add_hook(hooked.admin, receiver.hook("gone", "400"), "job.completed")
    await drive(hooked, await new_job(hooked.admin), ok=True)
    await wait_until(lambda: len(receiver.of("gone")) >= 1)
    await wait_settled(hooked)
    assert len(receiver.of("gone")) == 1
    [attempt] = await attempts(hooked.admin, hook["id"])
    assert (attempt["status_code"], attempt["outcome"], attempt["error"]) == (
        400,
        "failed",
        "HTTP 400",
    )


async def test_gives_up_after_max_attempts(hooked: Service, receiver: Receiver) -> None:
    hook = await add_hook(hooked.admin, receiver.hook("down", *["503"] * 10), "job.completed")
    await drive(hooked, await new_job(hooked.admin), ok=True)
    await wait_until(lambda: len(receiver.of("down")) >= 5)
    await wait_settled(hooked)
    assert len(receiver.of("down")) == 5  # webhook_max_attempts in these tests
    recorded = await attempts(hooked.admin, hook["id"])
    assert [a["outcome"] for a in recorded] == ["retrying"] * 4 + ["failed"]
    assert recorded[-1]["error"] == "gave up after 5 attempts: HTTP 503"
    delays = [a["next_attempt_at"] - a["at"] - a["duration_ms"] for a in recorded[:-1]]
    assert delays == [10, 20, 40, 80]  # exponential backoff from the 10 ms base


async def test_filters_are_honoured_on_jobs_that_really_run(
    tmp_path: Path, nats_url: str, receiver: Receiver
) -> None:
    settings = fast(tmp_path / "data", nats_url, workers=1)
    async with run_service(settings) as svc:
        await add_hook(svc.admin, receiver.hook("failed"), "job.failed")
        await add_hook(svc.admin, receiver.hook("done"), "job.completed")
        await add_hook(svc.admin, receiver.hook("pages"), "job.page")
        page_url = receiver.origin + "/page"
        status, scrape = await svc.admin.call(
            "POST", "/api/job/create/scrape", json={"urls": [page_url]}
        )
        assert status == 201, scrape
        await wait_until(lambda: len(receiver.of("done")) >= 1, timeout=30)
        # params no create route makes: the worker fails the job at once, fetching nothing
        made = await create_directly(svc, svc.admin, JobType.CHAPTER, {"chapters": ["c1"]})
        chapter = made["id"]
        await wait_until(lambda: len(receiver.of("failed")) >= 1, timeout=30)
        await wait_settled(svc)
    [failed] = receiver.of("failed")
    assert failed.json()["data"]["job_id"] == chapter
    [done] = receiver.of("done")
    assert done.json()["type"] == "job.completed"
    assert done.json()["data"]["job_id"] == scrape["id"]
    assert done.json()["data"]["status"] == "completed"
    [page] = receiver.of("pages")
    data = page.json()["data"]
    assert data["job_id"] == scrape["id"] and data["status"] == "running"
    assert (data["page"]["url"], data["page"]["status_code"], data["page"]["ok"]) == (
        page_url,
        200,
        True,
    )
    assert data["page"]["title"] == "Hooked page"


async def test_deleted_webhooks_get_nothing_more(hooked: Service, receiver: Receiver) -> None:
    kept = await add_hook(hooked.admin, receiver.hook("kept"), "job.completed")
    dropped = await add_hook(hooked.admin, receiver.hook("dropped"), "job.completed")
    await drive(hooked, await new_job(hooked.admin), ok=True)
    await wait_until(lambda: len(receiver.of("dropped")) >= 1)
    assert (await hooked.admin.call("DELETE", f"/api/webhooks/{dropped['id']}"))[0] == 200
    await drive(hooked, await new_job(hooked.admin), ok=True)
    await wait_until(lambda: len(receiver.of("kept")) >= 2)
    await wait_settled(hooked)
    assert len(receiver.of("dropped")) == 1
    assert len(await attempts(hooked.admin, kept["id"])) == 2


async def test_the_guard_applies_again_at_delivery_time(
    guarded: Service, receiver: Receiver
) -> None:
    """Webhooks that passed the check when created (DNS can change) and now point at
    private addresses: the attempt is refused, recorded as failed, and nothing is sent."""
    admin = await guarded.runtime.users.resolve(guarded.admin.token)
    port = receiver.origin.rsplit(":", 1)[1]
    targets = {"literal": f"http://127.0.0.1:{port}/hook/literal",
               "named": f"http://localhost:{port}/hook/named"}  # fmt: skip
    ids = {name: f"wh_{ULID()}" for name in targets}
    for name, url in targets.items():
        hook = Webhook(
            id=ids[name], user_id=admin.id, url=url, events=["job.completed"],
            secret="whsec_" + "A" * 44, created_at=0, from_seq=0,
        )  # fmt: skip
        await api_of(guarded).store.add(hook)
    await drive(guarded, await new_job(guarded.admin), ok=True)
    await wait_settled(guarded)
    assert receiver.received == []
    for name in targets:
        [attempt] = await attempts(guarded.admin, ids[name])
        assert attempt["outcome"] == "failed" and attempt["status_code"] is None
        assert attempt["error"].startswith("refused:") and "public" in attempt["error"]


async def test_a_redelivered_event_is_not_sent_again(hooked: Service, receiver: Receiver) -> None:
    """What a process that dies after recording an outcome, before its ack, leaves behind:
    the event comes back, and a second deliverer must not send it again."""
    hook = await add_hook(hooked.admin, receiver.hook("once"), "job.completed")
    job_id = await new_job(hooked.admin)
    await drive(hooked, job_id, ok=True)
    await wait_until(lambda: len(receiver.of("once")) >= 1)
    await wait_settled(hooked)
    history = await engine(hooked).store.history(job_id)
    [done] = [s for s in history if s.event.__struct_config__.tag == "succeeded"]
    async with second_deliverer(hooked) as other:
        assert await other.deliver(done.seq, done.event) is None
        assert await other.deliver(done.seq, done.event) is None
    assert len(receiver.of("once")) == 1
    assert len(await attempts(hooked.admin, hook["id"])) == 1


async def test_two_deliverers_share_the_consumer_and_send_each_event_once(
    hooked: Service, receiver: Receiver
) -> None:
    await add_hook(hooked.admin, receiver.hook("shared"), "job.started", "job.completed")
    async with second_deliverer(hooked):
        for _ in range(10):
            await drive(hooked, await new_job(hooked.admin), ok=True)
        await wait_until(lambda: len(receiver.of("shared")) >= 20)
        await wait_settled(hooked)
    counts = Counter(r.message_id for r in receiver.of("shared"))
    assert len(counts) == 20 and set(counts.values()) == {1}


async def test_events_nobody_wants_are_settled_a_fetched_batch_at_a_time(
    hooked: Service, receiver: Receiver
) -> None:
    """Subscriptions are read once per owner per fetched batch, not once per event (a crawl
    logs thousands of page events), and the one event a webhook wants is still sent once."""
    api = api_of(hooked)
    await api.deliverer.stop()  # the events below wait in the consumer, to be fetched together
    await wait_until(_no_pull_waiting(hooked))  # its last pull request expires within 1 s
    hook = await add_hook(hooked.admin, receiver.hook("failures"), "job.failed")
    for _ in range(20):
        await drive(hooked, await new_job(hooked.admin), ok=True)
    failing = await new_job(hooked.admin)
    await drive(hooked, failing, ok=False, error="boom")  # 42 events a webhook could name
    reads = Counter[str]()
    of_user = api.store.of_user

    async def counted(user_id: str) -> list[Webhook]:
        reads[user_id] += 1
        return await of_user(user_id)

    api.store.of_user = counted  # type: ignore[method-assign]
    async with second_deliverer(hooked):
        await wait_until(lambda: len(receiver.of("failures")) >= 1)
        await wait_settled(hooked)
    [sent] = receiver.of("failures")
    assert sent.json()["data"]["job_id"] == failing
    assert len(await attempts(hooked.admin, hook["id"])) == 1
    # two fetches of at most 32 events, plus the read made to send the failure
    assert 2 <= reads.total() <= 4, reads


async def test_a_failed_read_of_subscriptions_loses_no_event(
    hooked: Service, receiver: Receiver
) -> None:
    """The batch's read fails: every event of it goes the per-event way, and is delivered."""
    api = api_of(hooked)
    await api.deliverer.stop()
    await wait_until(_no_pull_waiting(hooked))
    await add_hook(hooked.admin, receiver.hook("done"), "job.completed")
    jobs = [await new_job(hooked.admin) for _ in range(3)]
    for job_id in jobs:
        await drive(hooked, job_id, ok=True)
    of_user, failures = api.store.of_user, [StreamsError("bucket unavailable")]

    async def flaky(user_id: str) -> list[Webhook]:
        if failures:
            raise failures.pop()
        return await of_user(user_id)

    api.store.of_user = flaky  # type: ignore[method-assign]
    async with second_deliverer(hooked):
        await wait_until(lambda: len(receiver.of("done")) >= 3)
        await wait_settled(hooked)
    assert not failures  # the triage's read did fail
    assert sorted(r.json()["data"]["job_id"] for r in receiver.of("done")) == sorted(jobs)


def _no_pull_waiting(svc: Service) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            info = await svc.runtime.nc.jetstream().consumer_info("JOBS", CONSUMER)
        except nats.js.errors.NotFoundError:  # not made before the first webhook
            return True
        return bool(info.num_waiting == 0)

    return check
