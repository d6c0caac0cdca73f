"""Offsets beyond SQLite's integer range are refused as bad input on every paged read."""

from __future__ import annotations

from tests.integration.api.helpers import assert_error, create
from tests.support import Service

HUGE = "9" * 30  # beyond any 64-bit integer
JUST_OVER = str(2**63)  # one past SQLite's INTEGER range


async def test_huge_offset_on_results_is_422_naming_offset(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    for offset in (HUGE, JUST_OVER):
        status, error = await user.call(
            "GET", f"/api/job/{job['id']}/results", params={"offset": offset}
        )
        assert_error(status, error, 422, "offset")
    # the largest offset SQLite can take is still a page, just an empty one
    status, page = await user.call(
        "GET", f"/api/job/{job['id']}/results", params={"offset": str(2**63 - 1)}
    )
    assert status == 200, page
    assert page["items"] == [] and page["has_more"] is False
