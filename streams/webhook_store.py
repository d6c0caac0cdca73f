"""Webhook subscriptions: validation, and their storage in the `webhooks` KV bucket.

One key per user (`user.<user_id>`) holds that user's webhooks as a JSON list, so the
deliverer finds an event's subscribers with one KV get, and a create or delete is one
compare-and-set on that key (retried when two requests race).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue
from ulid import ULID

from engine.jetstream.kv import CREATE_REFUSED, is_marker, open_bucket
from engine.jetstream.store import follow
from engine.net.errors import BlockedAddress, InvalidUrl
from engine.net.netguard import check_public, parse_host
from streams.errors import StreamsError

BUCKET = "webhooks"
MAX_PER_USER = 20
MAX_URL_LENGTH = 2048
_CAS_TRIES = 20

# Webhook event name -> the JOBS event kind it reports.
EVENT_KINDS: dict[str, str] = {
    "job.started": "started",
    "job.page": "page",
    "job.completed": "succeeded",
    "job.failed": "failed",
    "job.canceled": "canceled",
}
EVENT_TYPES: dict[str, str] = {kind: name for name, kind in EVENT_KINDS.items()}


class InvalidWebhook(StreamsError):
    """A webhook's fields are invalid; `field` names the offending one."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class WebhookNotFound(StreamsError):
    """No webhook with that id belongs to the caller."""


class TooManyWebhooks(StreamsError):
    """The caller has as many webhooks as one user may have."""


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription; it receives the events logged after `from_seq` (JOBS sequence)."""

    id: str
    user_id: str
    url: str
    events: list[str]
    secret: str
    created_at: int
    from_seq: int
    description: str | None = None


def check_events(events: list[str]) -> list[str]:
    """The event names without repeats, in the order given; InvalidWebhook if any is unknown."""
    if not events:
        raise InvalidWebhook("events: name at least one event", field="events")
    unknown = [e for e in events if e not in EVENT_KINDS]
    if unknown:
        names = ", ".join(EVENT_KINDS)
        raise InvalidWebhook(
            f"events: unknown event {unknown[0]!r}; known: {names}", field="events"
        )
    return list(dict.fromkeys(events))


def check_url(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL with a valid host; InvalidWebhook otherwise.

    A valid host is an IP address (in any spelling) or a name whose labels are 1 to 63
    characters, 253 at most in all.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidWebhook(f"url: not a valid URL ({e})", field="url") from e
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise InvalidWebhook("url: too long, or contains whitespace", field="url")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhook("url: expected an http:// or https:// URL with a host", field="url")
    try:
        parse_host(parts.hostname)
    except InvalidUrl as e:
        raise InvalidWebhook(f"url: {e}", field="url") from e
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_reachable(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host is, or resolves to, a private, loopback or link-local address.

    IP literals count in every spelling a resolver accepts (``127.1``, ``0x7f000001``,
    ``[::ffff:127.0.0.1]``...) and are never looked up; names are resolved and every
    address is checked. InvalidWebhook (field ``url``) for any refusal.
    """
    host, port = check_url(url)
    if allow_private:
        return
    try:
        await check_public(host, port)
    except BlockedAddress as e:
        raise InvalidWebhook(f"url: {e}; private networks are not allowed", field="url") from e
    except OSError as e:
        raise InvalidWebhook(f"url: cannot resolve {host}", field="url") from e


class WebhookStore:
    """Every user's webhooks; reads always go to the bucket, so deletes take effect at once."""

    def __init__(self, kv: KeyValue, js: JetStreamContext) -> None:
        self._kv = kv
        self._js = js
        self._encode = msgspec.json.Encoder().encode
        self._decode = msgspec.json.Decoder(list[Webhook]).decode

    @classmethod
    async def open(cls, js: JetStreamContext, replicas: int = 1) -> WebhookStore:
        return cls(await open_bucket(js, BUCKET, history=1, replicas=replicas), js)

    async def until_any(self) -> None:
        """Return once some user has a webhook: at once if one has, else when one is added.

        Follows the bucket (`follow`: each key's last value first, then every change): no
        poll, and no change missed across a lost connection."""
        found = asyncio.get_running_loop().create_future()

        async def seen(msg: Msg) -> None:
            if not found.done() and _holds_webhooks(msg):
                found.set_result(None)

        config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        sub = await follow(self._js, f"KV_{BUCKET}", f"$KV.{BUCKET}.>", config, seen)
        try:
            await found
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def of_user(self, user_id: str) -> list[Webhook]:
        return (await self._read(user_id))[0]

    async def get(self, user_id: str, webhook_id: str) -> Webhook:
        """The user's webhook with that id; WebhookNotFound for anyone else's."""
        for hook in await self.of_user(user_id):
            if hook.id == webhook_id:
                return hook
        raise WebhookNotFound(f"webhook {webhook_id} not found")

    async def add(self, hook: Webhook) -> None:
        for _ in range(_CAS_TRIES):
            hooks, revision = await self._read(hook.user_id)
            if len(hooks) >= MAX_PER_USER:
                raise TooManyWebhooks(f"a user may have at most {MAX_PER_USER} webhooks")
            if await self._write(hook.user_id, [*hooks, hook], revision):
                return
        raise StreamsError(f"webhooks of user {hook.user_id} kept changing; try again")

    async def remove(self, user_id: str, webhook_id: str) -> Webhook:
        """Delete the user's webhook and return it; WebhookNotFound for anyone else's."""
        for _ in range(_CAS_TRIES):
            hooks, revision = await self._read(user_id)
            gone = [h for h in hooks if h.id == webhook_id]
            if not gone:
                raise WebhookNotFound(f"webhook {webhook_id} not found")
            if await self._write(user_id, [h for h in hooks if h.id != webhook_id], revision):
                return gone[0]
        raise StreamsError(f"webhooks of user {user_id} kept changing; try again")

    async def _read(self, user_id: str) -> tuple[list[Webhook], int | None]:
        try:
            entry = await self._kv.get(_key(user_id))
        except nats.js.errors.KeyNotFoundError:
            return [], None
        return self._decode(entry.value or b"[]"), entry.revision

    async def _write(self, user_id: str, hooks: list[Webhook], revision: int | None) -> bool:
        """Compare-and-set: False when someone else changed the key since `revision`."""
        value = self._encode(hooks)
        with contextlib.suppress(*CREATE_REFUSED):
            if revision is None:
                await self._kv.create(_key(user_id), value)
            else:
                await self._kv.update(_key(user_id), value, last=revision)
            return True
        return False


def _holds_webhooks(msg: Msg) -> bool:
    """Whether a message of the bucket is a user's list of webhooks with one in it (not a
    delete or purge marker, not an empty list)."""
    return not is_marker(msg) and msg.data.strip() not in (b"", b"[]")


def new_webhook_id() -> str:
    return "wh_" + str(ULID())


def _key(user_id: str) -> str:
    return f"user.{user_id}"
