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


@pytest.fixture
def workers() -> int:
    """In-process workers of `working`; a folder's conftest may ask for more."""
    return 1


@pytest.fixture
async def working(tmp_path: Path, nats_url: str, workers: int) -> AsyncIterator[Service]:
    """The service with `workers` in-process workers, allowed to crawl 127.0.0.1."""
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, workers=workers,
        allow_private_networks=True,
    )  # fmt: skip
    async with run_service(settings) as svc:
        yield svc
