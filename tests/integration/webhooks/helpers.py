"""Helpers of the webhook tests: creating webhooks, driving jobs, waiting for delivery."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from api.webhooks import WebhooksApi, delivery_settings
from streams.webhook_store import WebhookStore
from streams.webhooks import CONSUMER, Deliverer
from tests.integration.api.helpers import SCRAPE, create, finish, start
from tests.support import Client, Service, wait_consumed


async def add_hook(client: Client, url: str, *events: str) -> dict[str, Any]:
    status, hook = await client.call("POST", "/api/webhooks", json={"url": url, "events": events})
    assert status == 201, hook
    assert isinstance(hook, dict)
    return hook


async def attempts(client: Client, hook_id: str) -> list[dict[str, Any]]:
    """Every recorded attempt of the webhook, paging through the endpoint."""
    path = f"/api/webhooks/{hook_id}/deliveries"
    return await client.all_items(path, limit=7)  # a small page, so paging is exercised


async def new_job(client: Client) -> str:
    """A SCRAPE job (of a closed port on 127.0.0.1): nothing in the log runs it until a
    worker or `drive` does."""
    return str((await create(client, SCRAPE, urls=["http://127.0.0.1:9/never"]))["id"])


async def drive(svc: Service, job_id: str, *, ok: bool, error: str | None = None) -> None:
    """Start and finish the job as a worker would: `started`, then `succeeded` or `failed`."""
    await start(svc, job_id)
    await finish(svc, job_id, ok=ok, error=error)


async def wait_settled(svc: Service, timeout: float = 15) -> None:
    """The deliverers have acked every event: none waiting, none in hand or retrying."""
    await wait_consumed(svc, CONSUMER, timeout)


def api_of(svc: Service) -> WebhooksApi:
    api: WebhooksApi = svc.runtime.webhooks
    return api


@contextlib.asynccontextmanager
async def second_deliverer(
    svc: Service, webhooks: WebhookStore | None = None
) -> AsyncIterator[Deliverer]:
    """Another deliverer on the service's NATS, as a second API process would run it (with
    `webhooks` read, when given, instead of the service's store)."""
    api = api_of(svc)
    other = Deliverer(
        svc.runtime.nc, api.events, webhooks or api.store, api.deliveries,
        delivery_settings(svc.settings),
    )  # fmt: skip
    await other.start()
    try:
        yield other
    finally:
        await other.stop()
