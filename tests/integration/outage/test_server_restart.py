"""A single NATS server killed (SIGKILL) and restarted under a steady create load: nothing
acknowledged is lost, no job that exists was answered with an error, and /health says 503
while writes cannot succeed and 200 once they can again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from api.settings import Settings
from engine.jetstream.store import JOBS_STREAM
from tests.integration.outage.load import HealthWatch, Load, url_of
from tests.integration.outage.server import Server
from tests.support import Service, run_service, wait_until


async def _titles(svc: Service) -> set[str]:
    """The title of every job the read model holds, once it has applied the whole log."""
    runtime = svc.runtime
    last = (await runtime.nc.jetstream().stream_info(JOBS_STREAM)).state.last_seq
    await runtime.projector.wait_for(last)
    return {job["job_title"] for job in await svc.admin.all_items("/api/jobs")}


async def test_a_server_restart_under_create_load(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    async with Server(tmp_path / "nats").running() as server:
        settings = Settings(data_dir=tmp_path / "data", nats_url=server.url)
        async with run_service(settings) as svc, aiohttp.ClientSession() as http:
            load = Load([svc.admin])
            health = HealthWatch(http, svc.admin.base)
            live = contextlib.ExitStack()
            live.enter_context(svc.runtime.hub.reader())  # a live reader: the hub follows
            await svc.runtime.hub.follow()
            async with health.running(), load.running():
                await wait_until(lambda: load.ok_since(0) >= 20)
                killed = loop.time()
                await server.kill()
                await wait_until(lambda: health.last_status() == 503)
                noticed = health.samples[-1].asked
                # the loops' creates on their way at the kill wait (up to SETTLE_S) to learn
                # whether they were stored; fresh ones meet the outage at once
                while load.failed_since(killed) < 5:
                    await asyncio.wait_for(load.one(svc.admin), 10)
                down_until = loop.time()
                hub_at = svc.runtime.hub.position
                await server.start()
                restarted = loop.time()
                hub_moving = asyncio.create_task(_moved(lambda: svc.runtime.hub.position > hub_at))
                await wait_until(lambda: load.ok_since(restarted) >= 20, timeout=20)
            titles = await _titles(svc)
            hub_back = await hub_moving
            last = (await svc.runtime.nc.jetstream().stream_info(JOBS_STREAM)).state.last_seq
            await wait_until(lambda: svc.runtime.hub.position == last)  # the live feed follows
            live.close()

    answers = load.answers
    assert {a.status for a in answers} <= {201, 503}, {a.status for a in answers}
    created = {url_of(a.n) for a in answers if a.status == 201}
    refused = {url_of(a.n) for a in answers if a.status != 201}
    assert refused, "the outage refused no create: the test saw no outage"
    assert created <= titles, f"acknowledged creates lost: {sorted(created - titles)}"
    assert not refused & titles, f"answered 503 but created: {sorted(refused & titles)}"
    assert titles == created  # nothing created that no create asked for

    # /health: 503 from the moment it noticed until the restart; once 200 again, writes work
    down = [s for s in health.samples if noticed <= s.asked and s.answered <= down_until]
    assert down and all(s.status == 503 for s in down), down
    healthy_again = next(s for s in health.samples if s.asked > restarted and s.status == 200)
    after = [a for a in answers if a.sent >= healthy_again.answered]
    assert after and all(a.status == 201 for a in after), after
    first_ok = min(a.answered for a in answers if a.sent >= restarted and a.status == 201)
    _report(
        pause_s=first_ok - restarted, health_back_s=healthy_again.answered - restarted,
        hub_back_s=hub_back - restarted,
        creates=len(answers), refused=len(refused),
    )  # fmt: skip


async def _moved(check: Callable[[], bool]) -> float:
    """The loop time at which `check` first holds."""
    await wait_until(check, timeout=20, interval=0.01)
    return asyncio.get_running_loop().time()


def _report(**numbers: float) -> None:  # (an int is a float to mypy)
    """Measured numbers, for the test's log (they are not asserted: the machine's load
    decides them)."""
    print(" ".join(f"{k}={round(v, 3)}" for k, v in numbers.items()))


pytestmark = pytest.mark.timeout(60)
