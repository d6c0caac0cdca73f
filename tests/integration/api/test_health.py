"""/health tells the truth: 200 while NATS and the read model are ready, 503 when not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from api.settings import Settings
from engine.jetstream.embedded import nats_server_binary
from tests.support import free_port, run_service, wait_until


async def test_health_turns_503_when_nats_goes_away(tmp_path: Path) -> None:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(port),
        "-sd", str(tmp_path / "nats"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        settings = Settings(data_dir=tmp_path / "data", nats_url=f"nats://127.0.0.1:{port}")
        async with run_service(settings) as svc, aiohttp.ClientSession() as http:

            async def health() -> tuple[int, dict[str, object]]:
                async with http.get(svc.admin.base + "/health") as resp:
                    return resp.status, await resp.json()

            status, body = await health()
            assert status == 200 and body["status"] == "ok"
            assert body["nats"] and body["projector"]
            server.terminate()
            await server.wait()

            async def unavailable() -> bool:
                status, body = await health()
                return status == 503 and body["status"] == "unavailable" and not body["nats"]

            await wait_until(unavailable, timeout=10)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
