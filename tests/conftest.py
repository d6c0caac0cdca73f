from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from nats.aio.client import Client as NATS

from api.settings import Settings
from engine.jetstream.store import wait_for_jetstream
from tests.sites.testsite import SiteHandle, serve_site
from tests.support import QUEUE_ACK_WAIT_S, Service, nats_server, run_service

# A fixture's teardown that is cancelled errors its own test and does not leave its fixtures
# (tmp_path, nats-server) to every later test of the process.
pytest_plugins = ["tests.teardown_guard"]

# Property tests judge behaviour, not speed: on a busy two-core machine, Hypothesis's time
# limits (a 200 ms deadline per example, the "generation is slow" health check) fail tests
# whose properties hold. The number of examples stays each test's own.
settings.register_profile("jobstream", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("jobstream")


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    async with nats_server(tmp_path / "nats") as url:
        yield url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    """A NATS connection to `nats_url`, JetStream ready."""
    conn = await wait_for_jetstream(nats_url)
    yield conn
    await conn.close()


@pytest.fixture
async def site() -> AsyncIterator[SiteHandle]:
    """The generated test site, 60 pages; a folder's conftest may serve another."""
    async with serve_site(60, seed=3) as handle:
        yield handle


@pytest.fixture
async def service(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_url)
    async with run_service(settings) as svc:
        yield svc


@pytest.fixture
async def queue_only(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """API and dispatcher, no workers (tests start worker processes of their own); WORK
    items come back QUEUE_ACK_WAIT_S after a worker goes silent."""
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, work_ack_wait_s=QUEUE_ACK_WAIT_S
    )
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
