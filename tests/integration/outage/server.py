"""One nats-server, with the project's configuration, that a test kills and starts again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from engine.jetstream.embedded import default_conf, nats_server_binary
from engine.jetstream.store import wait_for_jetstream
from tests.support import free_port


class Server:
    """One nats-server with the project's configuration, on a fixed port and store, that
    can be killed and started again."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        conf = default_conf()
        args = ["-c", str(conf)] if conf is not None else []
        self.proc = await asyncio.create_subprocess_exec(
            nats_server_binary(), *args, "-js", "-a", "127.0.0.1", "-p", str(self.port),
            "-sd", str(self.store),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        nc = await wait_for_jetstream(self.url)
        await nc.close()

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Server]:
        await self.start()
        try:
            yield self
        finally:
            if self.proc is not None and self.proc.returncode is None:
                await self.kill()
