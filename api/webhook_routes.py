"""Webhook routes: create, list, delete, and the record of delivery attempts; per user."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody, QueryParameter
from nats.aio.client import Client as NATS

from api.bodies import strict_body
from api.ids import WebhookIdPath
from api.routes import CurrentUser, Limit
from api.schemas import NewWebhook, Page, WebhookBody, WebhookDelivery, WebhookView
from api.settings import Settings
from api.users import User
from engine.jetstream.store import EventStore
from engine.service import now_ms
from streams.deliveries import Attempt, DeliveryLog
from streams.signing import new_secret
from streams.webhook_store import (
    Webhook,
    WebhookStore,
    check_events,
    check_reachable,
    new_webhook_id,
)
from streams.webhooks import Deliverer, DeliverySettings

Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000, description="Attempts to skip.")]


class WebhooksApi:
    """What the routes call; the deliverer runs beside it in the same process."""

    def __init__(
        self, store: WebhookStore, deliveries: DeliveryLog, events: EventStore, settings: Settings,
        deliverer: Deliverer,
    ) -> None:  # fmt: skip
        self.store = store
        self.deliveries = deliveries
        self.events = events
        self.deliverer = deliverer
        self.allow_private = settings.allow_private_networks

    async def create(self, user: User, body: WebhookBody) -> Webhook:
        """Validate and store; the webhook gets the events logged from now on."""
        events = check_events(body.events)
        await check_reachable(body.url, allow_private=self.allow_private)
        hook = Webhook(
            id=new_webhook_id(), user_id=user.id, url=body.url, events=events,
            secret=new_secret(), created_at=now_ms(), from_seq=await self.events.last_seq(),
            description=body.description,
        )  # fmt: skip
        await self.store.add(hook)
        return hook

    async def remove(self, user: User, webhook_id: str) -> None:
        await self.store.remove(user.id, webhook_id)
        await self.deliveries.purge(webhook_id)

    async def attempts(
        self, user: User, webhook_id: str, offset: int, limit: int
    ) -> Page[WebhookDelivery]:
        await self.store.get(user.id, webhook_id)  # 404 unless it is the caller's
        found = await self.deliveries.page(webhook_id, offset, limit)
        items = [_delivery(a) for a in found.items]
        return Page(total=found.total, offset=offset, limit=limit, items=items)


async def start_webhooks(
    stack: contextlib.AsyncExitStack, nc: NATS, events: EventStore, settings: Settings
) -> WebhooksApi:
    """Open the webhook bucket and the attempts stream, and start this process's deliverer."""
    store = await WebhookStore.open(nc.jetstream())
    deliveries = DeliveryLog(nc)
    await deliveries.ensure()
    deliverer = Deliverer(nc, events, store, deliveries, delivery_settings(settings))
    await deliverer.start()
    stack.push_async_callback(deliverer.stop)
    return WebhooksApi(store, deliveries, events, settings, deliverer)


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        timeout_s=settings.webhook_timeout_s,
        max_attempts=settings.webhook_max_attempts,
        backoff_s=settings.webhook_backoff_s,
        retry_after_cap_s=settings.webhook_retry_after_cap_s,
        concurrency=settings.webhook_concurrency,
        allow_private=settings.allow_private_networks,
    )


def webhooks_api(request: Request[Any, Any, Any]) -> WebhooksApi:
    api: WebhooksApi = request.app.state.webhooks
    return api


def _view(hook: Webhook) -> WebhookView:
    return WebhookView(
        id=hook.id, url=hook.url, events=hook.events, description=hook.description,
        created_at=hook.created_at,
    )  # fmt: skip


def _delivery(a: Attempt) -> WebhookDelivery:
    return WebhookDelivery(
        message_id=a.message_id, event_type=a.event_type, job_id=a.job_id, attempt=a.attempt,
        at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms,
        outcome=a.outcome.value, next_attempt_at=a.next_attempt_at,
    )  # fmt: skip


class WebhookController(Controller):
    path = "/api/webhooks"
    tags = ["webhooks"]

    @post("/", status_code=201)
    async def create_webhook(
        self, request: Request[Any, Any, Any], user: CurrentUser, data: JSONBody[WebhookBody]
    ) -> NewWebhook:
        """Subscribe a URL to job events; the answer carries the signing secret, shown once."""
        data = await strict_body(request, WebhookBody)
        hook = await webhooks_api(request).create(user, data)
        return NewWebhook(
            id=hook.id, url=hook.url, events=hook.events, description=hook.description,
            created_at=hook.created_at, secret=hook.secret,
        )  # fmt: skip

    @get("/")
    async def list_webhooks(
        self, request: Request[Any, Any, Any], user: CurrentUser
    ) -> list[WebhookView]:
        """The caller's webhooks, oldest first, without their secrets."""
        return [_view(h) for h in await webhooks_api(request).store.of_user(user.id)]

    @delete("/{webhook_id:str}", status_code=200)
    async def delete_webhook(
        self, request: Request[Any, Any, Any], user: CurrentUser, webhook_id: WebhookIdPath
    ) -> bool:
        """Remove the caller's webhook (404 for anyone else's) and its delivery record."""
        await webhooks_api(request).remove(user, webhook_id)
        return True

    @get("/{webhook_id:str}/deliveries")
    async def list_deliveries(
        self, request: Request[Any, Any, Any], user: CurrentUser, webhook_id: WebhookIdPath,
        offset: Offset = 0, limit: Limit = 20,
    ) -> Page[WebhookDelivery]:  # fmt: skip
        """Every delivery attempt in the order made: status or error, duration, next retry."""
        return await webhooks_api(request).attempts(user, webhook_id, offset, limit)
