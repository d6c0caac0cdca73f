"""/metrics through a NATS server's SIGKILL and restart: it keeps answering, the gauges read
from JetStream turn NaN (unknown) while it is away and come back with it, and the client's
reconnect is counted."""

from __future__ import annotations

import math
from pathlib import Path

from api.settings import Settings
from tests.integration.api.test_metrics import scrape, value
from tests.integration.outage.server import Server
from tests.support import run_service, wait_until

SHARED = ("jobstream_projector_lag_events", "jobstream_projector_lag_seconds")
LANES = ("high", "normal", "low")


async def test_metrics_through_a_server_restart(tmp_path: Path) -> None:
    async with Server(tmp_path / "nats").running() as server:
        settings = Settings(data_dir=tmp_path / "data", nats_url=server.url)
        async with run_service(settings) as svc:
            before = await scrape(svc.admin)  # also caches the admin's token
            assert value(before, "jobstream_nats_reconnects_total") == 0
            assert [value(before, "jobstream_queue_depth", lane=lane) for lane in LANES] == [0] * 3

            await server.kill()
            during = await scrape(svc.admin)
            assert all(math.isnan(value(during, "jobstream_queue_depth", lane=x)) for x in LANES)
            assert all(math.isnan(value(during, name)) for name in SHARED)
            assert value(during, "jobstream_nats_reconnects_total") == 0

            await server.start()

            async def back() -> bool:
                now = await scrape(svc.admin)
                known = not math.isnan(value(now, "jobstream_queue_depth", lane="normal"))
                return known and value(now, "jobstream_nats_reconnects_total") == 1

            await wait_until(back, timeout=20)
            after = await scrape(svc.admin)
            assert value(after, "jobstream_projector_lag_events") == 0
