from __future__ import annotations

import pytest

from tests.support import Service


@pytest.fixture
def api(service: Service) -> Service:
    """The API tests' name for the root `service`: a fresh nats-server and app per test."""
    return service
