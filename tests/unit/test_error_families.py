"""One error family per concern, and every family answered with its status by the API."""

from __future__ import annotations

from typing import Any, cast

import msgspec
import pytest

from api.errors import OUTAGE_RETRY_AFTER_S, exception_handlers, status_of
from api.limits import LimitExceeded
from api.refusals import ApiRefusal, Unauthorized
from api.users import UserExists
from engine.domain.errors import (
    Forbidden,
    InvalidCommand,
    InvalidHistory,
    JobConflict,
    JobNotFound,
    NothingToRetry,
    Refusal,
)
from engine.domain.ids import InvalidId
from engine.jetstream.errors import ConcurrencyConflict, StoreError, StoreUnavailable
from engine.jetstream.nats_access import NatsAccessError
from projections.errors import NotReady

FAMILIES: dict[type[Exception], tuple[type[Exception], ...]] = {
    Refusal: (JobNotFound, JobConflict, NothingToRetry, InvalidCommand, InvalidId, Forbidden),
    StoreError: (StoreUnavailable, ConcurrencyConflict, NatsAccessError),
    ApiRefusal: (Unauthorized, LimitExceeded, UserExists),
    InvalidHistory: (InvalidHistory,),
}

STATUSES: dict[type[Exception], int] = {
    JobNotFound: 404, JobConflict: 409, NothingToRetry: 400, InvalidCommand: 422,
    InvalidId: 422, Forbidden: 403, Unauthorized: 401, LimitExceeded: 429, UserExists: 409,
    StoreUnavailable: 503, NotReady: 503,
    ConcurrencyConflict: 500, NatsAccessError: 500, InvalidHistory: 500,
}  # fmt: skip


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_error_belongs_to_its_family_alone(family: type[Exception]) -> None:
    for member in FAMILIES[family]:
        assert issubclass(member, family)
        others = [f for f in FAMILIES if f is not family]
        assert not any(issubclass(member, other) for other in others), member


@pytest.mark.parametrize(("error", "status"), list(STATUSES.items()))
def test_each_error_class_has_its_status(error: type[Exception], status: int) -> None:
    assert status_of(error) == status


def _sample(error: type[Exception]) -> Exception:
    if issubclass(error, InvalidCommand):
        return error("urls: not a list", field="urls")
    if error is LimitExceeded:
        return LimitExceeded("too many", retry_after_s=3)
    return error("what went wrong")


def _answer(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers of the app's handler for `exc` (chosen by the MRO, as
    Litestar chooses it)."""
    handlers = exception_handlers()
    handler = next(handlers[cls] for cls in type(exc).__mro__ if cls in handlers)
    response = handler(cast(Any, None), exc)  # the handlers of deliberate errors ignore it
    body = msgspec.json.decode(msgspec.json.encode(response.content))
    return response.status_code, body, dict(response.headers)


@pytest.mark.parametrize(("error", "status"), list(STATUSES.items()))
def test_each_error_is_answered_with_its_status_message_and_field(
    error: type[Exception], status: int
) -> None:
    exc = _sample(error)
    got_status, body, headers = _answer(exc)
    assert got_status == status
    field = "urls" if isinstance(exc, InvalidCommand) else None
    assert body == {"status_code": status, "detail": str(exc), "field": field}
    assert ("WWW-Authenticate" in headers) == (status == 401)


def test_outages_and_limits_say_when_to_come_back() -> None:
    assert _answer(_sample(StoreUnavailable))[2]["Retry-After"] == str(OUTAGE_RETRY_AFTER_S)
    assert _answer(_sample(NotReady))[2]["Retry-After"] == str(OUTAGE_RETRY_AFTER_S)
    assert _answer(_sample(LimitExceeded))[2]["Retry-After"] == "3"
    assert "Retry-After" not in _answer(_sample(ConcurrencyConflict))[2]
