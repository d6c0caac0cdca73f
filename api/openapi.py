"""The OpenAPI document at /schema/openapi.json: Litestar's, completed once from the routes.

Litestar documents a route's success and a generic 400. `finish` rewrites every operation:
- its error answers, all with api.errors' body `{status_code, detail, field}`: those the
  route's shape implies (it takes the caller: 401 and 503; parameters or a body: 422; a
  body: 400 and 413; an id in the path: 404) and those `RAISES` lists, each mapped to its
  status by api.errors' own table;
- HTTP bearer security on every route that takes the caller (and `?token=` stream tokens
  where the stream routes take them);
- `text/event-stream` for the SSE routes;
- bodies, results and parameters with msgspec's exact schemas (api.openapi_types), and the
  parameters the routes check by hand with what they accept (`CHECKED`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from api.audit import DEFAULT_EVENTS, I64, MAX_EVENTS, BadQuery
from api.docs_page import DocsPage
from api.errors import status_of
from api.library import ARTIFACT_TYPES, IMAGE_TYPES
from api.limits import LimitExceeded
from api.openapi_types import (
    REF_TEMPLATE,
    Route,
    body_type,
    documented_routes,
    parameters,
    result_type,
    schemas,
)
from api.refusals import MissingChoice, ReadOnly
from api.schemas import ErrorBody, Health
from api.stream_routes import stream_user
from engine.domain.errors import Forbidden, JobConflict, JobNotFound, NothingToRetry
from engine.domain.events import EVENT_KINDS
from engine.jetstream.spiders import SpiderNameTaken, SpiderNotFound
from engine.spiders.model import SpiderDefinition
from streams.webhook_store import InvalidWebhook, TooManyWebhooks

_CREATE = (JobConflict, LimitExceeded)  # an Idempotency-Key raced; a per-user limit
# Errors routes raise on purpose beyond those their shape implies (see the module's doc).
RAISES: dict[str, tuple[type[Exception], ...]] = {
    "GET /api/job/{job_id}": (BadQuery,),
    "GET /api/events": (BadQuery, JobNotFound),
    "POST /api/job/{job_id}/cancel": (JobConflict,),
    "POST /api/job/{job_id}/replay": _CREATE,
    "POST /api/job/{job_id}/retry": (NothingToRetry, JobConflict),
    "DELETE /api/job/{job_id}": (Forbidden, JobConflict),
    "POST /api/job/create/fetch-novel": _CREATE,
    "POST /api/job/create/fetch-volumes": _CREATE,
    "POST /api/job/create/fetch-chapters": _CREATE,
    "POST /api/job/create/fetch-images": _CREATE,
    "POST /api/job/create/make-artifacts": (*_CREATE, Forbidden),
    "POST /api/job/create/scrape": _CREATE,
    "POST /api/job/create/crawl": _CREATE,
    "POST /api/webhooks": (InvalidWebhook, TooManyWebhooks),
    "POST /api/spiders": (SpiderNameTaken,),
    "PUT /api/spiders/{spider_id}": (SpiderNameTaken, ReadOnly),
    "DELETE /api/spiders/{spider_id}": (ReadOnly,),
    "POST /api/job/create/spider": (*_CREATE, MissingChoice, SpiderNotFound),
    "GET /api/job/{job_id}/stream": (LimitExceeded,),
    "GET /api/jobs/stream": (LimitExceeded,),
    "GET /metrics": (Forbidden,),
}
# Bodies a route reads itself (the spider definition: `parse_definition` names the path of a
# bad field), documented with the type they must have.
BODIES: dict[str, Any] = {
    "POST /api/spiders": SpiderDefinition,
    "PUT /api/spiders/{spider_id}": SpiderDefinition,
}
EVENT_STREAMS = frozenset({"GET /api/job/{job_id}/stream", "GET /api/jobs/stream"})
# Readiness answers 503 with the body it answers 200 with (api/health.py).
READINESS = frozenset({"GET /health", "GET /health/ready"})
# Routes answering with a file: the media types they may send.
FILES: dict[str, tuple[str, ...]] = {
    "GET /api/image/{image_id}": IMAGE_TYPES,
    "GET /api/artifact/{artifact_id}/download": ARTIFACT_TYPES,
    "GET /api/job/{job_id}/export": ("text/csv", "application/x-ndjson"),
}
_ATTACHMENT = {
    "Content-Disposition": {
        "required": True,
        "schema": {"type": "string"},
        "description": "`attachment` with the file name (RFC 5987 `filename*` when not ASCII).",
    }
}
FILE_HEADERS: dict[str, dict[str, Any]] = {
    "GET /api/artifact/{artifact_id}/download": _ATTACHMENT,
    "GET /api/job/{job_id}/export": _ATTACHMENT,
}

_SEQUENCE = {"type": "integer", "minimum": 0, "maximum": I64}
_INCLUDE = {"type": "string", "pattern": "^(stats|progress|logs)(,(stats|progress|logs))*$"}
# Parameters the routes take as text and check themselves (a 422 naming them).
CHECKED: dict[tuple[str, str], dict[str, Any]] = {
    ("GET /api/events", "from_seq"): _SEQUENCE,
    ("GET /api/events", "limit"): {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_EVENTS,
        "default": DEFAULT_EVENTS,
    },
    ("GET /api/events", "kind"): {"type": "string", "enum": sorted(EVENT_KINDS)},
    ("GET /api/job/{job_id}", "as_of"): _SEQUENCE,
    ("GET /api/job/{job_id}", "at"): _SEQUENCE,
    ("GET /api/job/{job_id}", "include"): _INCLUDE,
    ("GET /api/jobs", "include"): _INCLUDE,
    ("GET /api/jobs", "range"): {"type": "string", "pattern": r"^\d{1,5}[hdw]$"},
}
_RESUME_ID = {"type": "string", "pattern": "^[0-9]{1,18}$"}
_RESUME = [
    {
        "name": name,
        "in": where,
        "required": False,
        "schema": _RESUME_ID,
        "description": "Resume right after this event id (a log sequence).",
    }
    for name, where in (("Last-Event-ID", "header"), ("last_event_id", "query"))
]
# Parameters read from the request itself, which Litestar cannot see.
EXTRA_PARAMETERS: dict[str, list[dict[str, Any]]] = {key: _RESUME for key in EVENT_STREAMS}

MEANING = {
    400: "Malformed: a body that is not JSON, is missing, or nests too deep",
    401: "Missing or unknown token",
    403: "Not allowed to this caller",
    405: "Read-only: an installed spider cannot be changed",
    404: "No such thing, or not the caller's",
    409: "In conflict with the current state",
    413: "Request body too large",
    422: "An invalid parameter or body field, named in `field`",
    429: "A per-user limit: retry after `Retry-After` seconds",
    503: "The store is unavailable: retry later",
}
_SECONDS = {"type": "integer", "minimum": 1}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "schema": _SECONDS}},
    503: {"Retry-After": {"required": False, "schema": _SECONDS}},
}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (`js_...`)."},
    "streamToken": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "A stream token from `POST /api/stream-token` (stream routes only).",
    },
}
_SSE = {"type": "string", "description": "Server-sent events; each id is a log sequence."}
# Routes answering with text of their own format: its media type and schema.
TEXTS: dict[str, dict[str, Any]] = {
    "GET /metrics": {
        "text/plain": {
            "schema": {"type": "string", "description": "The Prometheus text format (0.0.4)."}
        }
    },
}
_FILE = {"type": "string", "format": "binary"}


def error_statuses(route: Route, has_parameters: bool) -> set[int]:
    """Every error status `route` can answer with (api.errors' body for each)."""
    found = {status_of(error) for error in RAISES.get(route.key, ())}
    if route.takes_user:
        found |= {401, 503}
    if body_type(route) is not None:
        found |= {400, 413, 422}
    if has_parameters:
        found.add(422)
    if route.path_parameters:
        found.add(404)
    return found


def _error(status: int) -> dict[str, Any]:
    schema = {"$ref": REF_TEMPLATE.format(name="ErrorBody")}
    answer: dict[str, Any] = {
        "description": MEANING[status],
        "content": {"application/json": {"schema": schema}},
    }
    if status in _HEADERS:
        answer["headers"] = copy.deepcopy(_HEADERS[status])
    return answer


class _Exact:
    """msgspec's schemas of every route's body, result and parameters, in one namespace."""

    def __init__(self, routes: list[Route]) -> None:
        slots: list[tuple[str, str]] = [("", "ErrorBody"), ("", "Health")]
        kinds: list[Any] = [ErrorBody, Health]
        self.defaults: dict[tuple[str, str], Any] = {}
        for route in routes:
            for slot, kind in self._slots(route):
                slots.append((route.key, slot))
                kinds.append(kind)
        found, self.components = schemas(kinds)
        self._schemas = dict(zip(slots, found, strict=True))

    def _slots(self, route: Route) -> Iterator[tuple[str, Any]]:
        if (body := BODIES.get(route.key) or body_type(route)) is not None:
            yield "body", body
        if (result := result_type(route)) is not None:
            yield "result", result
        for p in parameters(route):
            self.defaults[(route.key, _slot(p.location, p.name))] = p.default
            yield _slot(p.location, p.name), p.kind

    def get(self, key: str, slot: str) -> dict[str, Any] | None:
        return self._schemas.get((key, slot))


def _slot(location: str, name: str) -> str:
    return f"{location}:{name.lower() if location == 'header' else name}"


def finish(app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
    """The document Litestar `generated` for `app`, completed as the module's doc says."""
    doc = copy.deepcopy(generated)
    routes = list(documented_routes(app))
    exact = _Exact(routes)
    for route in routes:
        _complete(doc["paths"][route.path][route.method.lower()], route, exact)
    components = doc.setdefault("components", {})
    found = {**components.get("schemas", {}), **exact.components}
    components["schemas"] = _referenced(doc, found)
    components["securitySchemes"] = SECURITY_SCHEMES
    return doc


def _complete(op: dict[str, Any], route: Route, exact: _Exact) -> None:
    _set_parameters(op, route, exact)
    if (body := exact.get(route.key, "body")) is not None:
        op["requestBody"]["content"] = {"application/json": {"schema": body}}
    success = str(route.handler.status_code)
    answers = {k: v for k, v in op["responses"].items() if k.startswith("2")}
    content = answers[success].setdefault("content", {})
    if route.key in EVENT_STREAMS:
        answers[success]["content"] = {"text/event-stream": {"schema": _SSE}}
    elif route.key in TEXTS:
        answers[success]["content"] = copy.deepcopy(TEXTS[route.key])
    elif route.key in FILES:
        answers[success]["content"] = {t: {"schema": _FILE} for t in FILES[route.key]}
        answers[success]["headers"] = copy.deepcopy(FILE_HEADERS.get(route.key, {}))
    elif "application/json" in content and (result := exact.get(route.key, "result")):
        content["application/json"] = {"schema": result}
    statuses = error_statuses(route, bool(op.get("parameters")))
    op["responses"] = answers | {str(s): _error(s) for s in sorted(statuses)}
    if route.key in READINESS:  # not ready: the same body as when ready
        ready = answers["200"]["content"]["application/json"]
        op["responses"]["503"] = {
            "description": MEANING[503],
            "content": {"application/json": ready},
        }
    if route.takes_user:
        op["security"] = _security(route)


def _set_parameters(op: dict[str, Any], route: Route, exact: _Exact) -> None:
    declared: list[dict[str, Any]] = op.get("parameters", [])
    for p in declared:
        slot = _slot(p["in"], p["name"])
        schema = CHECKED.get((route.key, p["name"])) or exact.get(route.key, slot)
        if schema is None:
            continue
        default = exact.defaults.get((route.key, slot))
        p["schema"] = schema if default is None else schema | {"default": default}
    extra = EXTRA_PARAMETERS.get(route.key, [])
    if declared or extra:
        op["parameters"] = declared + copy.deepcopy(extra)


def _security(route: Route) -> list[dict[str, list[str]]]:
    provider = route.handler.resolve_dependencies().get("user")
    by_stream_token = isinstance(provider, Provide) and provider.dependency is stream_user
    schemes: list[dict[str, list[str]]] = [{"bearer": []}]
    return [*schemes, {"streamToken": []}] if by_stream_token else schemes


def _referenced(doc: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The components the document refers to, directly or through other components."""
    wanted: set[str] = set()
    pending = [{k: v for k, v in doc.items() if k != "components"}]
    while pending:
        for ref in _refs(pending.pop()):
            name = ref.rsplit("/", 1)[-1]
            if name not in wanted and name in components:
                wanted.add(name)
                pending.append(components[name])
    return {name: components[name] for name in sorted(wanted)}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


class FinishedJson(JsonRenderPlugin):
    """Serves the `finish`ed document as JSON, at /schema/openapi.json."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json")
        self._json: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._json is None:  # the routes are fixed once the app serves
            self._json = self.render_json(request, finish(request.app, openapi_schema))
        return self._json


def openapi_config() -> OpenAPIConfig:
    """The app's OpenAPI configuration: the finished document at /schema/openapi.json, and
    the docs page of the project's own files (api.docs_page) at /schema."""
    return OpenAPIConfig(
        title="jobstream", version="0.1.0", path="/schema",
        render_plugins=[FinishedJson(), DocsPage()],
    )  # fmt: skip
