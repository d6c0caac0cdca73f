"""Per-user limits: job creations a minute, open streams, and unfinished jobs per tier.

State lives in memory in one API node (a `Limiter` per process): with several API nodes
behind a balancer, each node allows the rate and the streams on its own, so a user may get
up to that many times the limits. The unfinished-jobs limit counts from the read model, which
every node folds from the same log, so it holds across nodes up to creates racing on two nodes
at the same moment (on one node a user's creates are admitted one at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from api.refusals import ApiRefusal
from api.users import User
from engine.domain.model import Tier

_EPSILON = 1e-9  # float refills that should reach a whole token may land just below it


class TierLimits(msgspec.Struct, frozen=True, kw_only=True):
    """One number per tier."""

    basic: int
    premium: int
    vip: int

    def of(self, tier: Tier) -> int:
        return {Tier.BASIC: self.basic, Tier.PREMIUM: self.premium, Tier.VIP: self.vip}[tier]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Per-user limits of one API node; 0 turns a limit off.

    `create_per_minute` is a token bucket per user: up to that many creates at once, refilled
    at that many a minute. `max_active_jobs` caps a user's pending plus running root jobs (a
    batch counts once, whatever its children). `retry_after_s` is the Retry-After sent with
    the stream and active-job refusals, where when a slot frees up is not known.
    """

    create_per_minute: int = 120
    max_streams: int = 20
    max_active_jobs: TierLimits = TierLimits(basic=50, premium=200, vip=1000)
    admins_exempt: bool = True
    retry_after_s: int = 5

    def __post_init__(self) -> None:
        numbers = {
            "create_per_minute": self.create_per_minute, "max_streams": self.max_streams,
            **{f"max_active_jobs.{t.value}": self.max_active_jobs.of(t) for t in Tier},
        }  # fmt: skip
        for name, value in numbers.items():
            if value < 0:
                raise ValueError(f"limits: {name} must be 0 (no limit) or more, not {value}")
        if self.retry_after_s < 1:
            raise ValueError(f"limits: retry_after_s must be 1 or more, not {self.retry_after_s}")


_INT_VARS = (
    ("JOBSTREAM_CREATE_RATE", "create_per_minute"),
    ("JOBSTREAM_MAX_STREAMS", "max_streams"),
)
_TIER_VARS = tuple((f"JOBSTREAM_MAX_ACTIVE_JOBS_{t.value.upper()}", t.value) for t in Tier)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def limits_from_env(environ: Mapping[str, str] = os.environ) -> Limits:
    """`Limits()` with the variables that are set: JOBSTREAM_CREATE_RATE (creates a minute),
    JOBSTREAM_MAX_STREAMS, JOBSTREAM_MAX_ACTIVE_JOBS_BASIC, _PREMIUM and _VIP (0: no limit),
    JOBSTREAM_ADMINS_EXEMPT (1 or 0). ValueError naming the variable when one is malformed."""
    default = Limits()
    fields: dict[str, Any] = {f: _int(environ, v) for v, f in _INT_VARS if environ.get(v)}
    tiers = {t: _int(environ, v) for v, t in _TIER_VARS if environ.get(v)}
    if tiers:
        fields["max_active_jobs"] = msgspec.structs.replace(default.max_active_jobs, **tiers)
    if raw := environ.get("JOBSTREAM_ADMINS_EXEMPT", "").strip().lower():
        if raw not in _TRUE | _FALSE:
            raise ValueError(f"JOBSTREAM_ADMINS_EXEMPT: expected 1 or 0, not {raw!r}")
        fields["admins_exempt"] = raw in _TRUE
    return msgspec.structs.replace(default, **fields)


def _int(environ: Mapping[str, str], name: str) -> int:
    raw = environ[name].strip()
    if not raw.isdigit():
        raise ValueError(f"{name}: expected a whole number (0: no limit), not {raw!r}")
    return int(raw)


class LimitExceeded(ApiRefusal):
    """A per-user limit refuses the request for now: 429, with Retry-After in whole seconds."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s - _EPSILON))
        super().__init__(f"{message}; retry in {self.retry_after_s} s")


class Bucket(msgspec.Struct, frozen=True, kw_only=True):
    """A token bucket's state: `tokens` left as of clock time `at`."""

    tokens: float
    at: float


def refilled(bucket: Bucket | None, per_minute: int, now: float) -> Bucket:
    """The bucket at `now`: a new one is full; `per_minute` tokens a minute, never above
    `per_minute`. A clock reading earlier than the bucket's adds nothing."""
    if bucket is None:
        return Bucket(tokens=float(per_minute), at=now)
    gained = max(0.0, now - bucket.at) * per_minute / 60.0
    return Bucket(tokens=min(float(per_minute), bucket.tokens + gained), at=max(now, bucket.at))


def wait_s(bucket: Bucket, per_minute: int) -> float:
    """Seconds until a refilled `bucket` holds a whole token; 0 when it does now."""
    missing = 1.0 - bucket.tokens
    return 0.0 if missing <= _EPSILON else missing * 60.0 / per_minute


def taken(bucket: Bucket) -> Bucket:
    return Bucket(tokens=bucket.tokens - 1.0, at=bucket.at)


class _KeyedLocks:
    """An asyncio lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Limiter:
    """The limits of one API node, applied per user; `clock` is monotonic seconds."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._prune_at = 1024
        self._streams: dict[str, int] = {}
        self._locks = _KeyedLocks()

    def exempt(self, user: User) -> bool:
        return self.limits.admins_exempt and user.is_admin

    @contextlib.asynccontextmanager
    async def creating(
        self, user: User, active: Callable[[], Awaitable[int]]
    ) -> AsyncIterator[None]:
        """Admit one create by `user`, or raise LimitExceeded; the body creates the job.

        `active` counts the user's unfinished root jobs. A user's creates are admitted one at
        a time, each held until its body returns, so the next count sees the job made before
        it. A create admitted spends a token of the rate, even if it then fails.
        """
        if self.exempt(user):
            yield
            return
        async with self._locks.held(user.id):
            bucket = self._bucket(user.id)
            await self._check_active(user, active)
            if bucket is not None:
                self._buckets[user.id] = taken(bucket)
            yield

    def _bucket(self, user_id: str) -> Bucket | None:
        """The user's refilled bucket, or LimitExceeded when it is empty; None: no rate."""
        rate = self.limits.create_per_minute
        if not rate:
            return None
        now = self.clock()
        self._prune(now)
        bucket = refilled(self._buckets.get(user_id), rate, now)
        if wait := wait_s(bucket, rate):
            raise LimitExceeded(
                f"create rate: at most {rate} jobs a minute per user", retry_after_s=wait
            )
        return bucket

    def _prune(self, now: float) -> None:
        """Forget full buckets (a missing bucket is a full one), once in a while."""
        if len(self._buckets) < self._prune_at:
            return
        rate = self.limits.create_per_minute
        self._buckets = {
            user: b for user, b in self._buckets.items() if refilled(b, rate, now).tokens < rate
        }
        self._prune_at = max(1024, 2 * len(self._buckets))

    async def _check_active(self, user: User, active: Callable[[], Awaitable[int]]) -> None:
        cap = self.limits.max_active_jobs.of(user.tier)
        if cap and await active() >= cap:
            raise LimitExceeded(
                f"active jobs: at most {cap} pending or running jobs on the {user.tier.value} "
                "tier; wait for one to finish or cancel one",
                retry_after_s=self.limits.retry_after_s,
            )

    def open_streams(self, user_id: str) -> int:
        """How many streams `user_id` has open on this node now (exempt users included)."""
        return self._streams.get(user_id, 0)

    def stream(self, user: User, app: ASGIApp) -> ASGIApp:
        """`app` (a stream's response), counted as one of the user's open streams from now
        until it returns or raises; LimitExceeded when the user has the most already."""
        cap = self.limits.max_streams
        held = self._streams.get(user.id, 0)
        if cap and held >= cap and not self.exempt(user):
            raise LimitExceeded(
                f"streams: at most {cap} open streams per user; close one",
                retry_after_s=self.limits.retry_after_s,
            )
        self._streams[user.id] = held + 1

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                self._release_stream(user.id)

        return counted

    def _release_stream(self, user_id: str) -> None:
        left = self._streams[user_id] - 1
        if left:
            self._streams[user_id] = left
        else:
            del self._streams[user_id]
