"""The composition root: `open_runtime` starts what a process runs and stops all of it, also
when start-up fails half-way; the app answers 503, never a 500, before its runtime is up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import uvicorn

from api.app import create_app
from api.runtime import Runtime, open_runtime
from api.settings import Settings
from tests.support import free_port, wait_until


async def test_runtime_runs_while_open_and_everything_stops_on_leaving(
    tmp_path: Path, nats_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, workers=1, print_admin_token=False
    )
    async with open_runtime(settings) as runtime:
        assert isinstance(runtime, Runtime)
        assert runtime.nc.is_connected
        assert runtime.projector.running
        await runtime.jobs.db.execute("SELECT 1")
        assert settings.admin_token_path.read_text().strip()
    assert runtime.nc.is_closed
    assert not runtime.projector.running
    with pytest.raises(ValueError, match="no active connection"):
        await runtime.jobs.db.execute("SELECT 1")


async def test_a_failed_start_stops_what_had_started(tmp_path: Path) -> None:
    """The embedded NATS server is up when the read model cannot be opened (its path is a
    directory); the failure stops the server again, so its port refuses connections."""
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", nats_port=port, print_admin_token=False)
    settings.db_path.mkdir(parents=True)
    with pytest.raises(Exception, match="unable to open database file"):
        async with open_runtime(settings):
            pytest.fail("the runtime started with an unusable read model")
    assert settings.admin_token_path.exists()  # NATS was up: the admin user was created
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


@contextlib.asynccontextmanager
async def served_without_lifespan(settings: Settings) -> AsyncIterator[str]:
    """The app over real HTTP on 127.0.0.1 with its lifespan never run: no runtime."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=free_port(), lifespan="off",
        log_level="warning",
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started, timeout=30)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


async def test_before_the_runtime_is_up_health_and_routes_answer_503(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with served_without_lifespan(settings) as base, aiohttp.ClientSession() as http:
        async with http.get(base + "/health") as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body == {
            "status": "unavailable", "nats": False, "projector": False, "checkpoint": 0,
            "can_append": False, "lag_events": 0, "lag_s": 0.0,
        }  # fmt: skip
        async with http.get(base + "/health/live") as resp:  # the process answers: alive
            assert resp.status == 200 and await resp.json() == {"status": "ok"}
        headers = {"Authorization": "Bearer some-token"}
        for path in ("/api/jobs", "/api/webhooks", "/api/job/01J00000000000000000000000/stream"):
            async with http.get(base + path, headers=headers) as resp:
                assert resp.status == 503, path
                body = await resp.json()
            assert body["status_code"] == 503 and body["detail"], body
