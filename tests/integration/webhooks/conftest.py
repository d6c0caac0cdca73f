from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.settings import Settings
from tests.integration.webhooks.receiver import Receiver, serve_receiver
from tests.support import Service, run_service


def fast(data_dir: Path, nats_url: str, **overrides: object) -> Settings:
    """Settings whose retries take milliseconds: 10 ms backoff, Retry-After capped at 0.2 s."""
    base: dict[str, object] = {
        "data_dir": data_dir, "nats_url": nats_url, "allow_private_networks": True,
        "webhook_backoff_s": 0.01, "webhook_retry_after_cap_s": 0.2,
        "webhook_timeout_s": 2.0, "webhook_max_attempts": 5,
    }  # fmt: skip
    return Settings(**(base | overrides))  # type: ignore[arg-type]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serve_receiver() as r:
        yield r


@pytest.fixture
async def hooked(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """The service allowed to deliver to 127.0.0.1, with fast retries and no workers."""
    async with run_service(fast(tmp_path / "data", nats_url)) as svc:
        yield svc


@pytest.fixture
async def guarded(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """The service with the private-network guard on, as in production."""
    settings = fast(tmp_path / "data", nats_url, allow_private_networks=False)
    async with run_service(settings) as svc:
        yield svc
