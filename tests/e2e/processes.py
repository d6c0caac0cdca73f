"""Real `jobstream` processes for end-to-end tests: the served API and separate workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.support import (
    Client,
    cli_env,
    free_ports,
    served_nats_url,
    spawn,
    stopped,
    wait_until,
)


class Served:
    def __init__(self, client: Client, nats_url: str, proc: asyncio.subprocess.Process) -> None:
        self.client = client
        self.nats_url = nats_url
        self.proc = proc


@contextlib.asynccontextmanager
async def serve_process(tmp_path: Path) -> AsyncIterator[Served]:
    """`jobstream serve --workers 0` with its embedded NATS, on free ports, until healthy."""
    port, nats_port = free_ports(2)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)  # a second serve_process(tmp_path) restarts on the same data
    proc = await spawn(
        tmp_path / "serve.log", "serve", "--workers", "0", "--port", str(port),
        "--nats-port", str(nats_port), "--data-dir", str(data), env=cli_env(),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def healthy() -> bool:
                assert proc.returncode is None, (tmp_path / "serve.log").read_text()
                try:
                    async with session.get(f"{base}/health") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await wait_until(healthy, timeout=30, interval=0.1)
            token = (data / "admin-token").read_text().strip()
            yield Served(Client(session, base, token), served_nats_url(data, nats_port), proc)
    finally:
        await stopped(proc)
