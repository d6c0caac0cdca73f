from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sites.testsite import SiteHandle, serve_site


@pytest.fixture
async def site() -> AsyncIterator[SiteHandle]:
    async with serve_site(30, seed=5) as handle:
        yield handle
