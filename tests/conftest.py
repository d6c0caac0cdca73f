from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.settings import Settings
from tests.support import Service, nats_server, run_service


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    async with nats_server(tmp_path / "nats") as url:
        yield url


@pytest.fixture
async def service(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_url)
    async with run_service(settings) as svc:
        yield svc
