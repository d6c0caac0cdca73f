"""The deliverers' consumer exists only once a webhook does: before that, events cost
delivery nothing; after, every process delivers, whichever made the webhook."""

from __future__ import annotations

import asyncio

import nats.js.errors

from streams.webhook_store import WebhookStore
from streams.webhooks import CONSUMER, Deliverer
from tests.integration.webhooks.helpers import (
    add_hook,
    api_of,
    drive,
    new_job,
    second_deliverer,
    wait_settled,
)
from tests.integration.webhooks.receiver import Receiver
from tests.support import Service, wait_until


async def _consumer_exists(svc: Service) -> bool:
    try:
        await svc.runtime.nc.jetstream().consumer_info("JOBS", CONSUMER)
    except nats.js.errors.NotFoundError:
        return False
    return True


async def test_no_consumer_before_the_first_webhook_then_every_later_event(
    hooked: Service, receiver: Receiver
) -> None:
    for _ in range(3):
        await drive(hooked, await new_job(hooked.admin), ok=True)
    assert not await _consumer_exists(hooked)  # nothing was handed to a deliverer
    await add_hook(hooked.admin, receiver.hook("first"), "job.started", "job.completed")
    assert await _consumer_exists(hooked)
    job_id = await new_job(hooked.admin)
    await drive(hooked, job_id, ok=True)
    await wait_until(lambda: len(receiver.of("first")) >= 2)
    await wait_settled(hooked)
    sent = receiver.of("first")
    assert [r.json()["type"] for r in sent] == ["job.started", "job.completed"]
    assert {r.json()["data"]["job_id"] for r in sent} == {job_id}  # none of the earlier jobs


async def test_a_process_that_made_no_webhook_delivers_once_one_exists(
    hooked: Service, receiver: Receiver
) -> None:
    """The process that makes the webhook stops delivering at once; another one, which was
    waiting with no consumer, learns of the webhook from the bucket and delivers."""
    await api_of(hooked).deliverer.stop()
    async with second_deliverer(hooked) as other:
        await _delivers_once_a_hook_is_added(hooked, receiver, other, "other")


async def test_a_deliverer_started_after_a_webhook_exists_delivers(
    hooked: Service, receiver: Receiver
) -> None:
    await add_hook(hooked.admin, receiver.hook("later"), "job.completed")
    await api_of(hooked).deliverer.stop()
    async with second_deliverer(hooked):
        job_id = await _one_job_delivered(hooked, receiver, "later")
    [sent] = receiver.of("later")
    assert sent.json()["data"]["job_id"] == job_id


class _FirstFollowCancelled(WebhookStore):
    """A store whose first follow of the bucket ends cancelled from inside, as nats-py ends
    a call waiting on a subscription when its connection closes; later follows are real."""

    follows = 0

    async def until_any(self) -> None:
        self.follows += 1
        if self.follows == 1:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)
        await super().until_any()


async def test_a_follow_cancelled_by_something_else_is_followed_again(
    hooked: Service, receiver: Receiver
) -> None:
    """Before, the deliverer's loop ended with the cancelled follow and never delivered."""
    await api_of(hooked).deliverer.stop()
    store = await _FirstFollowCancelled.open(hooked.runtime.nc.jetstream())
    async with second_deliverer(hooked, store) as other:
        await wait_until(lambda: store.follows >= 2)
        await _delivers_once_a_hook_is_added(hooked, receiver, other, "again")


async def _delivers_once_a_hook_is_added(
    svc: Service, receiver: Receiver, deliverer: Deliverer, hook: str
) -> None:
    """`deliverer`, still waiting for a webhook, delivers the next job's end to one added
    at the receiver's `hook`, and only that."""
    loop = deliverer._loop
    assert loop is not None and not loop.done()
    await add_hook(svc.admin, receiver.hook(hook), "job.completed")
    job_id = await _one_job_delivered(svc, receiver, hook)
    [sent] = receiver.of(hook)
    assert sent.json()["data"]["job_id"] == job_id


async def _one_job_delivered(svc: Service, receiver: Receiver, hook: str) -> str:
    """A job run to its end, once something reached the receiver's `hook` and every event
    is settled; the job's id."""
    job_id = await new_job(svc.admin)
    await drive(svc, job_id, ok=True)
    await wait_until(lambda: len(receiver.of(hook)) >= 1)
    await wait_settled(svc)
    return job_id
