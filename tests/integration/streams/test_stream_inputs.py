"""Resume ids and stream tokens of any bytes are refused with a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

from tests.integration.api.helpers import assert_error, create, raw
from tests.support import Service

# Digits that str.isdigit() accepts but int() may not, or that are not ASCII at all.
ODD_DIGITS = ["²", "³1", "١٢", "\uff11\uff12", "12²", "-1", "1e3", " 1", "9" * 19]


async def test_a_resume_id_that_is_not_a_plain_number_is_400_naming_it(service: Service) -> None:
    job = await create(service.admin)
    for path in (f"/api/job/{job['id']}/stream", "/api/jobs/stream"):
        for value in ODD_DIGITS:
            status, _, body = await raw(service.admin, "GET", path, params={"last_event_id": value})
            assert status in (400, 422), (value, body)
            assert_error(status, body, status, "Last-Event-ID")
        for value in ("²", "1\xb3"):  # a Latin-1 header value, as a browser could send
            headers = {"Last-Event-ID": value}
            status, _, body = await raw(service.admin, "GET", path, headers=headers)
            assert status in (400, 422), (value, body)


async def test_a_stream_token_of_any_characters_is_401(service: Service) -> None:
    job = await create(service.admin)
    anonymous = service.admin.as_user(None)
    tokens: list[Any] = ["é", "é.é", "a.\u2603", "\x00.\x00", ".", "a." + "b" * 5000, "ünï.cødé"]
    for token in tokens:
        for path in (f"/api/job/{job['id']}/stream", "/api/jobs/stream"):
            status, headers, body = await raw(anonymous, "GET", path, params={"token": token})
            assert_error(status, body, 401)
            assert headers.get("WWW-Authenticate") == "Bearer"
