"""Every paged route says `has_more`: whether items lie beyond the page."""

from __future__ import annotations

from tests.integration.api.helpers import create, start
from tests.support import Client, Service


async def _pages(client: Client, path: str, limit: int) -> list[tuple[int, bool]]:
    """(items, has_more) of each page of `path`, `limit` a page, until one says no more."""
    seen: list[tuple[int, bool]] = []
    offset = 0
    while True:
        status, page = await client.call("GET", path, params={"offset": offset, "limit": limit})
        assert status == 200, page
        assert set(page) == {"total", "offset", "limit", "has_more", "items"}, page
        seen.append((len(page["items"]), page["has_more"]))
        offset += len(page["items"])
        if not page["has_more"]:
            assert offset == page["total"], page
            return seen


async def test_jobs_and_a_jobs_events_page_with_has_more(api: Service) -> None:
    user = await api.add_user("u")
    jobs = [await create(user) for _ in range(5)]
    assert await _pages(user, "/api/jobs", 2) == [(2, True), (2, True), (1, False)]
    assert await _pages(user, "/api/jobs", 5) == [(5, False)]
    await start(api, jobs[0]["id"])  # created, started
    assert await _pages(user, f"/api/job/{jobs[0]['id']}/events", 1) == [(1, True), (1, False)]
    status, page = await user.call("GET", "/api/jobs", params={"offset": 99})
    assert status == 200 and (page["items"], page["has_more"]) == ([], False), page
