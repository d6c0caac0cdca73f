"""What each documented route takes and returns, as types, and their exact JSON Schemas.

Litestar's schema generator drops constraints that msgspec enforces (a `ge=0` beside
`None`, the constraints of a list's items, `forbid_unknown_fields`) and writes integer bounds
as floats. msgspec describes its own types exactly, so the document's bodies, results and
parameters are rewritten from the types the handlers declare.
"""

from __future__ import annotations

import types
from collections.abc import Collection, Iterator, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec
from litestar import Litestar
from litestar.constants import RESERVED_KWARGS
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg, ParameterKwarg
from litestar.response import Response
from litestar.routes import HTTPRoute
from litestar.types import Empty
from litestar.typing import FieldDefinition
from msgspec import Meta

REF_TEMPLATE = "#/components/schemas/{name}"
# KwargDefinition attributes that are msgspec.Meta constraints of the same meaning.
_META = ("gt", "ge", "lt", "le", "multiple_of", "pattern", "min_length", "max_length")
_ITEMS = {"min_items": "min_length", "max_items": "max_length"}


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """One documented operation: an HTTP method of a route and the handler serving it."""

    method: str
    path: str
    handler: HTTPRouteHandler
    path_parameters: frozenset[str]

    @property
    def key(self) -> str:
        """`METHOD /path`, as the document's `paths` name it (e.g. `GET /api/job/{job_id}`)."""
        return f"{self.method} {self.path}"

    @property
    def takes_user(self) -> bool:
        """Whether the handler needs the caller (and so a token)."""
        return "user" in self.handler.parsed_fn_signature.parameters


def documented_routes(app: Litestar) -> Iterator[Route]:
    """Every operation the OpenAPI document describes, in the app's route order."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if handler.resolve_include_in_schema():
                yield Route(
                    method=str(method), path=route.path_format or "/", handler=handler,
                    path_parameters=frozenset(route.path_parameters),
                )  # fmt: skip


def body_type(route: Route) -> Any | None:
    """The type of the route's JSON body, or None when it takes none."""
    field = route.handler.parsed_fn_signature.parameters.get("data")
    return None if field is None else field.annotation


def result_type(route: Route) -> Any | None:
    """The type of the route's successful JSON answer; None when msgspec cannot describe it
    (a raw ASGI app such as an SSE stream)."""
    returned = route.handler.parsed_fn_signature.return_type
    found: Any = returned.annotation
    if returned.is_subclass_of(Response):
        found = returned.inner_types[0].annotation if returned.inner_types else None
    return found if found is not None and describable(found) else None


def describable(kind: Any) -> bool:
    try:
        msgspec.json.schema(kind)
    except (TypeError, ValueError):  # not a type msgspec can encode
        return False
    return True


class Parameter(msgspec.Struct, frozen=True, kw_only=True):
    """A path, query or header parameter: its type with its constraints, and its default."""

    name: str
    location: str
    kind: Any
    default: Any = None  # None: no default (or None, which a query cannot say)


def parameters(route: Route) -> list[Parameter]:
    """The route's parameters, its own and those of the dependencies it uses, and of theirs."""
    handler = route.handler
    fields = dict(handler.parsed_fn_signature.parameters)
    providers = handler.resolve_dependencies()
    while provided := [name for name in fields if name in providers]:
        for name in provided:
            del fields[name]
            fields.update(providers[name].parsed_fn_signature.parameters)
    found = (_parameter(name, f, route.path_parameters) for name, f in fields.items())
    return [p for p in found if p is not None]


def _parameter(name: str, field: FieldDefinition, path: Collection[str]) -> Parameter | None:
    kwarg = field.kwarg_definition
    if name in RESERVED_KWARGS or isinstance(kwarg, BodyKwarg):
        return None
    location = "query"
    if name in path:
        location = "path"
    elif isinstance(kwarg, ParameterKwarg):
        name, location = kwarg.name or name, kwarg.param_type.value
    default = None if field.default is Empty else _builtin(field.default)
    return Parameter(name=name, location=location, kind=_constrained(field), default=default)


def _builtin(value: Any) -> Any:
    try:
        return msgspec.to_builtins(value)
    except TypeError:
        return None


def _constrained(field: FieldDefinition) -> Any:
    """The field's type without None (an absent parameter is how a query says None), with
    the constraints of its Litestar parameter as msgspec Meta."""
    kwarg = field.kwarg_definition
    constraints: dict[str, Any] = {}
    if isinstance(kwarg, ParameterKwarg):
        constraints = {k: getattr(kwarg, k) for k in _META if getattr(kwarg, k) is not None}
        constraints |= {v: getattr(kwarg, k) for k, v in _ITEMS.items() if getattr(kwarg, k)}
        if kwarg.description:
            constraints["description"] = kwarg.description
    base = without_none(field.annotation)
    return Annotated[base, Meta(**constraints)] if constraints else base


def without_none(kind: Any) -> Any:
    """`kind` with None taken out of a union (`int | None` is `int`)."""
    if get_origin(kind) not in (Union, types.UnionType):
        return kind
    rest = tuple(a for a in get_args(kind) if a is not type(None))
    return rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007 - built from a tuple


def schemas(kinds: Sequence[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The JSON Schema of each of `kinds`, and the components they refer to (one namespace
    for all, so a struct used twice is one component)."""
    found, components = msgspec.json.schema_components(kinds, ref_template=REF_TEMPLATE)
    return [dict(s) for s in found], dict(components)
