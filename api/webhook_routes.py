"""Webhook routes: create, list, delete, and the record of delivery attempts; per user."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody, QueryParameter

from api.bodies import strict_body
from api.deps import Webhooks
from api.ids import WebhookIdPath
from api.routes import CurrentUser, Limit
from api.schemas import NewWebhook, Page, WebhookBody, WebhookDelivery, WebhookView
from streams.webhook_store import Webhook

Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000, description="Attempts to skip.")]


def _view(hook: Webhook) -> WebhookView:
    return WebhookView(
        id=hook.id, url=hook.url, events=hook.events, description=hook.description,
        created_at=hook.created_at,
    )  # fmt: skip


class WebhookController(Controller):
    path = "/api/webhooks"
    tags = ["webhooks"]

    @post("/", status_code=201)
    async def create_webhook(
        self, request: Request[Any, Any, Any], user: CurrentUser, webhooks: Webhooks,
        data: JSONBody[WebhookBody],
    ) -> NewWebhook:  # fmt: skip
        """Subscribe a URL to job events; the answer carries the signing secret, shown once."""
        data = await strict_body(request, WebhookBody)
        hook = await webhooks.create(user, data)
        return NewWebhook(
            id=hook.id, url=hook.url, events=hook.events, description=hook.description,
            created_at=hook.created_at, secret=hook.secret,
        )  # fmt: skip

    @get("/")
    async def list_webhooks(self, user: CurrentUser, webhooks: Webhooks) -> list[WebhookView]:
        """The caller's webhooks, oldest first, without their secrets."""
        return [_view(h) for h in await webhooks.store.of_user(user.id)]

    @delete("/{webhook_id:str}", status_code=200)
    async def delete_webhook(
        self, user: CurrentUser, webhooks: Webhooks, webhook_id: WebhookIdPath
    ) -> bool:
        """Remove the caller's webhook (404 for anyone else's) and its delivery record."""
        await webhooks.remove(user, webhook_id)
        return True

    @get("/{webhook_id:str}/deliveries")
    async def list_deliveries(
        self, user: CurrentUser, webhooks: Webhooks, webhook_id: WebhookIdPath,
        offset: Offset = 0, limit: Limit = 20,
    ) -> Page[WebhookDelivery]:  # fmt: skip
        """Every delivery attempt in the order made: status or error, duration, next retry."""
        return await webhooks.attempts(user, webhook_id, offset, limit)
