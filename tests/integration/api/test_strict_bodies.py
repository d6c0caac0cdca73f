"""Every JSON body is decoded strictly: a string is never taken for a number or a boolean."""

from __future__ import annotations

from typing import Any

from tests.integration.api.helpers import (
    ARTIFACTS,
    CHAPTERS,
    IMAGES,
    NOVEL,
    VALID_BODIES,
    VOLUMES,
    assert_error,
    in_library,
    list_all,
    raw,
)
from tests.support import Service

# A route, a body it accepts, and a field of it given as a string of the right value.
LAX: list[tuple[str, dict[str, Any], str, Any]] = [
    (NOVEL, VALID_BODIES[NOVEL], "full", "true"),
    (NOVEL, VALID_BODIES[NOVEL], "priority", "1"),
    (VOLUMES, VALID_BODIES[VOLUMES], "priority", "2"),
    (CHAPTERS, VALID_BODIES[CHAPTERS], "priority", "0"),
    (IMAGES, VALID_BODIES[IMAGES], "priority", "1"),
    (ARTIFACTS, VALID_BODIES[ARTIFACTS], "priority", "1"),
    ("/api/job/create/scrape", {"urls": ["https://example.com/"]}, "priority", "1"),
    ("/api/job/create/crawl", {"domain": "example.com"}, "max_pages", "5"),
    ("/api/job/create/crawl", {"domain": "example.com"}, "respect_robots", "false"),
]


async def test_a_string_for_a_number_or_boolean_is_422_naming_the_field(api: Service) -> None:
    shelf = await in_library(api, api.admin)  # the novel VALID_BODIES[ARTIFACTS] names
    for path, body, field, value in LAX:
        status, _, answer = await raw(api.admin, "POST", path, json={**body, field: value})
        assert_error(status, answer, 422, field)
        assert "Expected" in answer["detail"], answer
        # the same body with the JSON value is accepted: only the type was wrong
        typed = msgspec_value(value)
        status, _, answer = await raw(api.admin, "POST", path, json={**body, field: typed})
        assert status == 201, (path, field, answer)
    made = [j for j in await list_all(api.admin) if j["id"] != shelf.toc_job_id]
    assert len(made) == len(LAX)


def msgspec_value(text: str) -> Any:
    """The JSON value a lax decoder would have read `text` as."""
    return {"true": True, "false": False}.get(text, int(text) if text.isdigit() else text)
