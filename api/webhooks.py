"""The webhooks application layer behind the routes: subscriptions and their delivery record."""

from __future__ import annotations

from api.schemas import Page, WebhookBody, WebhookDelivery
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


class WebhooksApi:
    """What the webhook routes call; `deliverer`, this process's one, runs beside it and is
    started and stopped by whoever built it (the runtime)."""

    def __init__(
        self, store: WebhookStore, deliveries: DeliveryLog, events: EventStore,
        deliverer: Deliverer, *, allow_private: bool,
    ) -> None:  # fmt: skip
        self.store = store
        self.deliveries = deliveries
        self.events = events
        self.deliverer = deliverer
        self.allow_private = allow_private

    async def create(self, user: User, body: WebhookBody) -> Webhook:
        """Validate and store; the webhook gets the events logged from now on."""
        events = check_events(body.events)
        await check_reachable(body.url, allow_private=self.allow_private)
        # the consumer first: it then holds every event after the `from_seq` read below
        await self.deliverer.ensure_consumer()
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
        return Page.of(found.total, offset, limit, items)


def delivery_settings(settings: Settings) -> DeliverySettings:
    """What a deliverer needs of the process's settings."""
    return DeliverySettings(
        timeout_s=settings.webhook_timeout_s,
        max_attempts=settings.webhook_max_attempts,
        backoff_s=settings.webhook_backoff_s,
        retry_after_cap_s=settings.webhook_retry_after_cap_s,
        concurrency=settings.webhook_concurrency,
        allow_private=settings.allow_private_networks,
    )


def _delivery(a: Attempt) -> WebhookDelivery:
    return WebhookDelivery(
        message_id=a.message_id, event_type=a.event_type, job_id=a.job_id, attempt=a.attempt,
        at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms,
        outcome=a.outcome.value, next_attempt_at=a.next_attempt_at,
    )  # fmt: skip
