"""Short-lived signed stream tokens, for browsers' EventSource (which cannot send headers).

A token carries its user and expiry, signed with HMAC-SHA256 under a secret shared by every
API process through the `config` KV bucket, so any process accepts any process's tokens.
"""

from __future__ import annotations

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
from engine.jetstream.kv import open_bucket

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


async def shared_secret(kv: KeyValue) -> bytes:
    """The cluster's signing secret, created by whichever process asks first."""
    with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):  # another one did
        await kv.create(SECRET_KEY, secrets.token_bytes(32))
    entry = await kv.get(SECRET_KEY)
    assert entry.value is not None
    return bytes(entry.value)


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
