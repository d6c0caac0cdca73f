from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.batch.site import BatchSite, serve_batch_site


@pytest.fixture
async def batch_site() -> AsyncIterator[BatchSite]:
    async with serve_batch_site() as site:
        yield site
