"""Per-user limits on creates over real HTTP: the rate, unfinished jobs per tier, admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.limits import Limiter, Limits, TierLimits
from api.settings import Settings
from engine.domain.model import Tier
from tests.clock import ManualClock
from tests.integration.api.helpers import (
    NOVEL,
    assert_error,
    create,
    finish,
    list_all,
    raw,
    start,
)
from tests.support import Client, Service, run_service, wait_until

NO_ACTIVE_CAP = TierLimits(basic=0, premium=0, vip=0)
SCRAPE = "/api/job/create/scrape"


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
async def limited(tmp_path: Path, nats_url: str, limits: Limits) -> AsyncIterator[Service]:
    """The service (no workers: jobs stay pending) with `limits`."""
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_url, limits=limits)
    async with run_service(settings) as svc:
        yield svc


def clocked(svc: Service) -> ManualClock:
    """Give the service's limiter a clock the test moves."""
    clock = ManualClock()
    svc.runtime.jobs.limiter = Limiter(svc.settings.limits, clock=clock)
    return clock


def novel(i: int | str) -> dict[str, Any]:
    return {"url": f"https://example.com/novel-{i}", "source": "novelfull"}


async def refused(client: Client, path: str = NOVEL, **kw: Any) -> tuple[str, dict[str, Any]]:
    """A create refused by a limit: 429 `{status_code, detail, field: null}`; its Retry-After
    and body."""
    status, headers, body = await raw(client, "POST", path, json=kw.pop("json", novel("x")), **kw)
    assert_error(status, body, 429)
    assert body["field"] is None, body
    retry_after = headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1, retry_after
    assert f"retry in {retry_after} s" in body["detail"], body
    return retry_after, body


@pytest.mark.parametrize("limits", [Limits(create_per_minute=3, max_active_jobs=NO_ACTIVE_CAP)])
async def test_the_create_rate_answers_429_until_the_bucket_refills(limited: Service) -> None:
    clock = clocked(limited)
    alice = await limited.add_user("alice")
    first = await create(alice, NOVEL, **novel(0))
    await create(alice, NOVEL, **novel(1))
    status, keyed = await alice.call("POST", NOVEL, json=novel(2), headers={"Idempotency-Key": "k"})
    assert status == 201, keyed
    retry_after, body = await refused(alice)
    assert retry_after == "20"  # 3 a minute: one token back every 20 s
    assert "create rate" in body["detail"] and "3 jobs a minute" in body["detail"]
    # A replay of a key whose job exists is not a creation: answered, and not charged.
    status, again = await alice.call("POST", NOVEL, json=novel(2), headers={"Idempotency-Key": "k"})
    assert (status, again["id"]) == (201, keyed["id"])
    clock.now += 19.0
    assert (await refused(alice))[0] == "1"
    clock.now += 1.0
    await create(alice, NOVEL, **novel(3))
    await refused(alice)
    bob = await limited.add_user("bob")  # a bucket per user
    await create(bob, NOVEL, **novel("b"))
    for i in range(5):  # the admin is exempt by default
        await create(limited.admin, NOVEL, **novel(f"admin-{i}"))
    mine = await list_all(alice)
    assert len(mine) == 4 and first["id"] in {j["id"] for j in mine}


@pytest.mark.parametrize(
    "limits", [Limits(create_per_minute=0, max_active_jobs=TierLimits(basic=2, premium=3, vip=0))]
)
async def test_unfinished_root_jobs_are_capped_per_tier(limited: Service) -> None:
    alice = await limited.add_user("alice")
    urls = [f"https://example.com/novel-{i}" for i in range(3)]
    batch = await create(alice, NOVEL, urls=urls, source="novelfull")

    async def spawned() -> bool:
        return len(await list_all(alice, parent_job_id=batch["id"])) == 3

    await wait_until(spawned)  # three pending children, yet the batch counts once
    one = await create(alice, NOVEL, **novel(1))
    retry_after, body = await refused(alice)
    assert retry_after == "5"
    assert "2 pending or running jobs on the basic tier" in body["detail"], body
    assert (await alice.call("POST", f"/api/job/{one['id']}/cancel"))[0] == 200
    two = await create(alice, NOVEL, **novel(2))
    await refused(alice)
    await start(limited, two["id"])
    await refused(alice)  # running counts too
    await finish(limited, two["id"], ok=True)
    await create(alice, NOVEL, **novel(3))
    await refused(alice, SCRAPE, json={"urls": urls})

    carol = await limited.add_user("carol", tier=Tier.PREMIUM)
    for i in range(3):
        await create(carol, NOVEL, **novel(f"c{i}"))
    assert "premium tier" in (await refused(carol))[1]["detail"]
    vip = await limited.add_user("vic", tier=Tier.VIP)  # 0: no cap
    for i in range(4):
        await create(vip, NOVEL, **novel(f"v{i}"))
    for i in range(4):  # the admin (basic tier) is exempt by default
        await create(limited.admin, NOVEL, **novel(f"a{i}"))
    assert len(await list_all(alice, is_done="false")) == 2


@pytest.mark.parametrize(
    "limits",
    [Limits(admins_exempt=False, max_active_jobs=TierLimits(basic=1, premium=1, vip=1))],
)
async def test_admins_are_limited_when_not_exempt(limited: Service) -> None:
    await create(limited.admin, NOVEL, **novel(0))
    await refused(limited.admin)


@pytest.mark.parametrize("limits", [Limits(max_active_jobs=TierLimits(basic=1, premium=1, vip=1))])
async def test_a_refused_create_leaves_its_idempotency_key_unused(limited: Service) -> None:
    alice = await limited.add_user("alice")
    first = await create(alice, NOVEL, **novel(0))
    await refused(alice, headers={"Idempotency-Key": "k"}, json=novel(1))
    assert (await alice.call("POST", f"/api/job/{first['id']}/cancel"))[0] == 200
    # The key was not bound by the refused request: another body may use it now.
    status, job = await alice.call("POST", NOVEL, json=novel(2), headers={"Idempotency-Key": "k"})
    assert status == 201, job
    assert job["id"] != first["id"]
    status, again = await alice.call("POST", NOVEL, json=novel(2), headers={"Idempotency-Key": "k"})
    assert (status, again["id"]) == (201, job["id"])
