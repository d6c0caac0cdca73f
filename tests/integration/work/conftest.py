from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.work.helpers import HoldSite, serve_hold_site


@pytest.fixture
async def hold_site() -> AsyncIterator[HoldSite]:
    async with serve_hold_site() as site:
        yield site


@pytest.fixture
def workers() -> int:
    """`working` runs two in-process workers here."""
    return 2
