"""Fixtures of the API tests: a fresh nats-server and app per test, in a fraction of a second.

`api` is the shared `service` fixture with one difference: it waits for the nats-server port to
accept connections before the first NATS connect. A connect that is refused makes nats-py wait
its whole reconnect interval (2 s), which at one service per test would dominate the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.embedded import embedded_nats
from api.settings import Settings
from tests.support import Service, free_port, run_service, wait_until


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def ready_nats(store: Path) -> AsyncIterator[str]:
    port = free_port()
    async with embedded_nats(store, port, None) as url:
        await wait_until(lambda: _accepts(port), timeout=15)
        yield url


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Service]:
    async with (
        ready_nats(tmp_path / "nats") as url,
        run_service(Settings(data_dir=tmp_path / "data", nats_url=url)) as svc,
    ):
        yield svc
