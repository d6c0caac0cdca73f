"""Short-lived signed stream tokens, for browsers' EventSource (which cannot send headers).

A token carries its user and expiry, signed with HMAC-SHA256 under a secret shared by every
API process through the `config` KV bucket, so any process accepts any process's tokens.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import time

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from api.refusals import Unauthorized
from api.users import User
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.kv import CREATE_REFUSED, open_bucket

CONFIG_BUCKET = "config"
SECRET_KEY = "stream-secret"


class _Claims(msgspec.Struct, frozen=True):
    user: User
    exp: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def open_config(js: JetStreamContext, replicas: int = 1) -> KeyValue:
    return await open_bucket(js, CONFIG_BUCKET, history=1, replicas=replicas)


SECRET_WAIT_S = 10.0
_SECRET_POLL_S = 0.05


async def shared_secret(kv: KeyValue, wait_s: float = SECRET_WAIT_S) -> bytes:
    """The cluster's signing secret, created by whichever process asks first. The others read
    it, asking again for up to `wait_s` seconds while their replica does not show it yet (KV
    reads are answered by any replica); StoreUnavailable then."""
    with contextlib.suppress(*CREATE_REFUSED):  # another process created it
        await kv.create(SECRET_KEY, secrets.token_bytes(32))
    loop = asyncio.get_running_loop()
    end = loop.time() + wait_s
    while True:
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            entry = await kv.get(SECRET_KEY)
            if entry.value:
                return bytes(entry.value)
        if loop.time() >= end:
            raise StoreUnavailable("the stream-token secret was created but cannot be read")
        # a replica catching up sends no notification a client can await
        await asyncio.sleep(_SECRET_POLL_S)


class StreamTokens:
    """Issues and checks stream tokens scoped to one user."""

    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._decode = msgspec.json.Decoder(_Claims).decode

    def issue(self, user: User) -> tuple[str, int]:
        """A token for `user` and its expiry in ms since the epoch."""
        exp = int((time.time() + self.ttl_s) * 1000)
        body = _b64(msgspec.json.encode(_Claims(user=user, exp=exp)))
        return f"{body}.{self._sign(body)}", exp

    def verify(self, token: str) -> User:
        """The token's user; Unauthorized when forged, malformed or expired."""
        body, _, sig = token.partition(".")
        if not token.isascii():  # compare_digest takes only ASCII strings
            raise Unauthorized("invalid stream token")
        if not sig or not hmac.compare_digest(sig, self._sign(body)):
            raise Unauthorized("invalid stream token")
        try:
            claims = self._decode(_unb64(body))
        except (ValueError, msgspec.DecodeError) as e:
            raise Unauthorized("invalid stream token") from e
        if claims.exp < time.time() * 1000:
            raise Unauthorized("stream token expired; ask POST /api/stream-token for a new one")
        return claims.user

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())
