from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.settings import Settings
from tests.sites.testsite import SiteHandle, serve_site
from tests.support import Service, run_service


@pytest.fixture
async def site() -> AsyncIterator[SiteHandle]:
    async with serve_site(60, seed=3) as handle:
        yield handle


@pytest.fixture
async def working(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """The service with one in-process worker, allowed to crawl 127.0.0.1."""
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, workers=1, allow_private_networks=True
    )
    async with run_service(settings) as svc:
        yield svc
