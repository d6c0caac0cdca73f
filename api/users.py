"""Users and their API tokens, in a JetStream KV bucket every API node can read.

Tokens are random 256-bit strings; only their SHA-256 is stored (a slow hash adds nothing for
secrets of that entropy), keyed so a lookup is one KV get.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from ulid import ULID

from api.refusals import ApiRefusal, Unauthorized
from engine.domain.model import Tier
from engine.jetstream.kv import CREATE_REFUSED, bucket_empty, open_bucket

BUCKET = "users"
_CACHE_S = 5.0


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    is_admin: bool = False
    tier: Tier = Tier.BASIC
    created_at: int = 0


class UserExists(ApiRefusal):
    """A user with that name exists already."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Creates users and resolves bearer tokens, with a short in-process cache."""

    def __init__(self, js: JetStreamContext, kv: KeyValue) -> None:
        self._js = js
        self._kv = kv
        self._encode = msgspec.json.Encoder().encode
        self._decode = msgspec.json.Decoder(User).decode
        self._cache: dict[str, tuple[float, User]] = {}

    @classmethod
    async def open(cls, js: JetStreamContext, replicas: int = 1) -> UserStore:
        return cls(js, await open_bucket(js, BUCKET, history=1, replicas=replicas))

    async def is_empty(self) -> bool:
        return await bucket_empty(self._js, BUCKET)

    async def add(self, name: str, *, admin: bool = False, tier: Tier = Tier.BASIC) -> str:
        """Create a user and return its token (shown once, never stored)."""
        try:
            await self._kv.create(f"name.{token_hash(name)}", name.encode())
        except CREATE_REFUSED as e:
            raise UserExists(f"user {name!r} exists already") from e
        token = "js_" + secrets.token_urlsafe(32)
        user = User(id=str(ULID()), name=name, is_admin=admin, tier=tier, created_at=_ms())
        await self._kv.put(f"token.{token_hash(token)}", self._encode(user))
        return token

    async def resolve(self, token: str) -> User:
        """The token's user; Unauthorized for an unknown token."""
        key = token_hash(token)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            entry = await self._kv.get(f"token.{key}")
        except nats.js.errors.KeyNotFoundError as e:
            raise Unauthorized("unknown token") from e
        if entry.value is None:
            raise Unauthorized("unknown token")
        user = self._decode(entry.value)
        self._cache[key] = (now + _CACHE_S, user)
        return user


def _ms() -> int:
    return time.time_ns() // 1_000_000
