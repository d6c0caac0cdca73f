from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from engine.crawl.fetcher import FetchSettings, make_session
from tests.sites.testsite import SiteHandle, serve_site

# Small page count keeps every crawl around two seconds (dominated by /slow and
# the 1 s Retry-After of /ratelimited, which run concurrently with the rest).
N_PAGES = 80


@pytest.fixture
async def site() -> AsyncIterator[SiteHandle]:
    async with serve_site(N_PAGES, seed=7) as handle:
        yield handle


@pytest.fixture
def settings() -> FetchSettings:
    return FetchSettings(allow_private=True, backoff_base_s=0.01, timeout_s=10.0)


@pytest.fixture
async def session(settings: FetchSettings) -> AsyncIterator[aiohttp.ClientSession]:
    async with make_session(settings) as client:
        yield client
