"""Per-user limits, pure: the token bucket, the limiter's admission and stream counts, and
the environment overrides."""

from __future__ import annotations

import asyncio
import math
from typing import Any, cast

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.types import ASGIApp

from api.limits import (
    Limiter,
    LimitExceeded,
    Limits,
    TierLimits,
    limits_from_env,
    refilled,
    taken,
    wait_s,
)
from api.users import User
from engine.domain.model import Tier
from tests.clock import ManualClock

ALICE = User(id="alice", name="alice")
ADMIN = User(id="root", name="root", is_admin=True)


def _zero() -> Any:
    async def count() -> int:
        return 0

    return count


@given(
    per_minute=st.integers(1, 600),
    gaps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=200),
)
def test_a_bucket_never_admits_more_than_its_burst_plus_its_refill(
    per_minute: int, gaps: list[float]
) -> None:
    bucket, now, admitted = None, 0.0, 0
    for gap in gaps:
        now += gap
        b = refilled(bucket, per_minute, now)
        if wait_s(b, per_minute) == 0:
            b, admitted = taken(b), admitted + 1
        bucket = b
    assert admitted <= per_minute + now * per_minute / 60 + 1e-6


@given(per_minute=st.integers(1, 600), takes=st.integers(1, 700), early=st.floats(0.01, 0.99))
def test_retry_after_is_exactly_when_a_token_is_back(
    per_minute: int, takes: int, early: float
) -> None:
    bucket = refilled(None, per_minute, 0.0)
    for _ in range(takes):
        if wait_s(bucket, per_minute):
            break
        bucket = taken(bucket)
    wait = wait_s(bucket, per_minute)
    if wait == 0:
        return  # never emptied
    retry_after = LimitExceeded("x", retry_after_s=wait).retry_after_s
    assert retry_after >= 1 and retry_after == max(1, math.ceil(wait - 1e-9))
    assert wait_s(refilled(bucket, per_minute, retry_after), per_minute) == 0
    assert wait_s(refilled(bucket, per_minute, wait * early), per_minute) > 0


async def test_the_create_rate_refuses_past_the_burst_then_refills_with_the_clock() -> None:
    clock = ManualClock()
    limiter = Limiter(Limits(create_per_minute=3), clock=clock)
    for _ in range(3):
        async with limiter.creating(ALICE, _zero()):
            pass
    with pytest.raises(LimitExceeded, match="create rate: at most 3 jobs a minute") as refused:
        async with limiter.creating(ALICE, _zero()):
            pytest.fail("admitted past the rate")
    assert refused.value.retry_after_s == 20  # one token every 20 s
    assert "retry in 20 s" in str(refused.value)
    clock.now += 19.5
    with pytest.raises(LimitExceeded) as again:
        async with limiter.creating(ALICE, _zero()):
            pass
    assert again.value.retry_after_s == 1
    clock.now += 0.5
    async with limiter.creating(ALICE, _zero()):
        pass
    async with limiter.creating(User(id="bob", name="bob"), _zero()):
        pass  # another user has a bucket of their own


async def test_active_jobs_are_capped_per_tier_and_a_refusal_spends_no_token() -> None:
    limits = Limits(create_per_minute=1, max_active_jobs=TierLimits(basic=2, premium=5, vip=0))
    limiter = Limiter(limits, clock=ManualClock())
    active = 2

    async def count() -> int:
        return active

    with pytest.raises(LimitExceeded, match="at most 2 pending or running jobs on the basic"):
        async with limiter.creating(ALICE, count):
            pass
    premium = User(id="p", name="p", tier=Tier.PREMIUM)
    vip = User(id="v", name="v", tier=Tier.VIP)
    active = 4
    for user in (premium, vip):  # 4 < 5 on premium; 0 is no limit on vip
        async with limiter.creating(user, count):
            pass
    active = 1
    async with limiter.creating(ALICE, count):  # the refusal above left Alice's token
        pass


async def test_admins_are_exempt_unless_the_limits_say_otherwise() -> None:
    strict = Limits(create_per_minute=1, max_active_jobs=TierLimits(basic=1, premium=1, vip=1))

    async def many() -> int:
        return 10

    exempt = Limiter(strict, clock=ManualClock())
    for _ in range(5):
        async with exempt.creating(ADMIN, many):
            pass
    bound = Limiter(msgspec.structs.replace(strict, admins_exempt=False), clock=ManualClock())
    with pytest.raises(LimitExceeded, match="active jobs"):
        async with bound.creating(ADMIN, many):
            pass


async def test_a_users_creates_are_admitted_one_at_a_time() -> None:
    """Two creates racing: the second counts after the first's job exists."""
    limiter = Limiter(Limits(max_active_jobs=TierLimits(basic=1, premium=1, vip=1)))
    jobs: list[str] = []

    async def count() -> int:
        return len(jobs)

    async def create(name: str) -> None:
        async with limiter.creating(ALICE, count):
            await asyncio.sleep(0)  # a yield, not a wait: the other create may run meanwhile
            jobs.append(name)

    outcomes = await asyncio.gather(create("a"), create("b"), return_exceptions=True)
    assert len(jobs) == 1
    assert sum(isinstance(o, LimitExceeded) for o in outcomes) == 1


async def _served(app: ASGIApp) -> None:
    """Run an ASGI app that reads neither its scope nor its channels."""
    await app(cast(Any, {}), cast(Any, None), cast(Any, None))


async def test_a_stream_counts_until_its_app_returns_or_raises() -> None:
    limiter = Limiter(Limits(max_streams=2))
    finish = asyncio.Event()

    async def long_app(scope: Any, receive: Any, send: Any) -> None:
        await finish.wait()

    async def failing_app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("stream broke")

    first = asyncio.create_task(_served(limiter.stream(ALICE, long_app)))
    failing = limiter.stream(ALICE, failing_app)
    assert limiter.open_streams(ALICE.id) == 2
    with pytest.raises(LimitExceeded, match="at most 2 open streams") as refused:
        limiter.stream(ALICE, long_app)
    assert refused.value.retry_after_s == 5
    with pytest.raises(RuntimeError):
        await _served(failing)
    assert limiter.open_streams(ALICE.id) == 1
    finish.set()
    await first
    assert limiter.open_streams(ALICE.id) == 0


def test_admins_streams_are_counted_but_not_refused() -> None:
    limiter = Limiter(Limits(max_streams=1))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    for _ in range(3):
        limiter.stream(ADMIN, app)
    assert limiter.open_streams(ADMIN.id) == 3


def test_limits_from_the_environment() -> None:
    env = {
        "JOBSTREAM_CREATE_RATE": "30", "JOBSTREAM_MAX_STREAMS": "0",
        "JOBSTREAM_MAX_ACTIVE_JOBS_BASIC": "1", "JOBSTREAM_MAX_ACTIVE_JOBS_VIP": "9",
        "JOBSTREAM_ADMINS_EXEMPT": "no",
    }  # fmt: skip
    limits = limits_from_env(env)
    default = Limits()
    assert limits == Limits(
        create_per_minute=30, max_streams=0, admins_exempt=False,
        max_active_jobs=TierLimits(basic=1, premium=default.max_active_jobs.premium, vip=9),
    )  # fmt: skip
    assert limits_from_env({}) == default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JOBSTREAM_CREATE_RATE", "ten"),
        ("JOBSTREAM_MAX_STREAMS", "-1"),
        ("JOBSTREAM_MAX_ACTIVE_JOBS_PREMIUM", "2.5"),
        ("JOBSTREAM_ADMINS_EXEMPT", "maybe"),
    ],
)
def test_a_malformed_variable_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        limits_from_env({name: value})


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match=r"max_active_jobs\.vip"):
        Limits(max_active_jobs=TierLimits(basic=1, premium=1, vip=-1))
    with pytest.raises(ValueError, match="retry_after_s"):
        Limits(retry_after_s=0)
