"""Maps every error to a JSON body `{status_code, detail, field}` with the right status."""

from __future__ import annotations

import logging
import re
from typing import Any

import nats.errors
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.types import ExceptionHandlersMap

from api.limits import LimitExceeded
from api.refusals import ApiRefusal, MissingChoice, ReadOnly, Unauthorized
from api.schemas import ErrorBody
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
from engine.jetstream.errors import StoreError, StoreUnavailable
from engine.jetstream.spiders import SpiderNotFound
from projections.errors import NotReady
from streams.errors import StreamsError
from streams.webhook_store import InvalidWebhook, TooManyWebhooks, WebhookNotFound

log = logging.getLogger(__name__)

OUTAGE_RETRY_AFTER_S = 2

# The first class that matches wins: subclasses before their bases. A class of a family below
# that is not listed (ConcurrencyConflict, NatsAccessError, InvalidHistory) is a 500.
_STATUS: dict[type[Exception], int] = {
    JobNotFound: 404,
    SpiderNotFound: 404,
    JobConflict: 409,
    UserExists: 409,
    NothingToRetry: 400,  # as in Reader's API, which the retry route follows (docs/api-map.md)
    InvalidCommand: 422,  # BadQuery too: a bad field is a 422 wherever it is (400: malformed)
    Forbidden: 403,
    Unauthorized: 401,
    ReadOnly: 405,
    MissingChoice: 400,  # ScrapeThis answers a spider job naming no spider so
    StoreUnavailable: 503,
    NotReady: 503,
    InvalidWebhook: 422,
    WebhookNotFound: 404,
    TooManyWebhooks: 409,
    LimitExceeded: 429,
    StreamsError: 503,  # any other: the webhook store kept changing or could not be reached
    # nats-py's own errors reaching a route (a token's lookup timing out while a bucket
    # elects its leader, say): NATS is unavailable, not the request wrong
    nats.errors.Error: 503,
}


def _body(status: int, detail: str, field: str | None = None) -> Response[ErrorBody]:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        ErrorBody(status_code=status, detail=detail, field=field),
        status_code=status,
        headers=headers,
    )


def status_of(error: type[Exception]) -> int:
    """The status errors of this class are answered with; 500 for any other class."""
    return next((code for cls, code in _STATUS.items() if issubclass(error, cls)), 500)


def _known_error(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    status = status_of(type(exc))
    response = _body(status, str(exc), getattr(exc, "field", None))
    if isinstance(exc, LimitExceeded):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    elif status == 503:  # an outage: NATS or the read model is back within seconds, usually
        response.headers["Retry-After"] = str(OUTAGE_RETRY_AFTER_S)
    return response


_FIELD_IN_MESSAGE = re.compile(
    r"(?:at `\$\.|field `|Missing required \w+ parameter ')([A-Za-z_][A-Za-z0-9_-]*)"
)


def _field_of(exc: ValidationException) -> tuple[str | None, str]:
    """The first offending field and its message, from Litestar's validation details."""
    extra = exc.extra
    first = extra[0] if isinstance(extra, list) and extra and isinstance(extra[0], dict) else {}
    message = str(first.get("message") or exc.detail)
    found = _FIELD_IN_MESSAGE.search(message)
    if found is not None:
        return found.group(1), message
    key = first.get("key")
    if key and first.get("source") == "header":  # the header's name, not the kwarg's
        key = "-".join(part.capitalize() for part in str(key).split("_"))
    return (str(key) if key and key != "data" else None), message


def _path_ids(exc: ValidationException) -> list[str]:
    """The path parameters (ids) the request got wrong: a malformed id names nothing."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    return [str(e.get("key")) for e in extra if isinstance(e, dict) and e.get("source") == "path"]


def _validation_error(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    assert isinstance(exc, ValidationException)
    if ids := _path_ids(exc):  # as for a well-formed id of nothing the caller may see
        return _body(404, f"not found: the {ids[0]} in the path is not a well-formed id")
    field, message = _field_of(exc)
    if field is None and message == "'data'":  # Litestar's KeyError text for an empty body
        return _body(400, "request body is missing: expected a JSON object")
    detail = f"{field}: {message}" if field else message
    return _body(422, detail, field)


def _http_error(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    assert isinstance(exc, HTTPException)
    if isinstance(exc.__cause__, SerializationException):
        return _body(400, f"request body is not valid JSON: {exc.detail}")
    return _body(exc.status_code, str(exc.detail))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _body(500, "internal error")


def exception_handlers() -> ExceptionHandlersMap:
    return {
        ValidationException: _validation_error,
        HTTPException: _http_error,
        # each family raised on purpose: its status from _STATUS, its message as the detail
        Refusal: _known_error,
        InvalidHistory: _known_error,
        StoreError: _known_error,
        ApiRefusal: _known_error,
        NotReady: _known_error,
        StreamsError: _known_error,
        nats.errors.Error: _known_error,
        Exception: _unexpected,
    }
