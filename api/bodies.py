"""Request bodies in msgspec's strict mode: a JSON string is never taken for a number.

Litestar converts a `JSONBody[...]` parameter in msgspec's lax mode, where `"5"` passes for 5,
`"true"` for true and 5.0 for 5. A route that must not accept that keeps the parameter (it
gives the OpenAPI schema and the first validation) and reads the value it uses with
`strict_body`.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

T = TypeVar("T")


async def strict_body(request: Request[Any, Any, Any], body_type: type[T]) -> T:
    """The request's JSON body decoded as `body_type` in strict mode.

    Raises Litestar's ValidationException with msgspec's message (which names the path, e.g.
    "Expected `int`, got `str` - at `$.max_pages`"): api.errors answers it with a 422
    naming the field, as for any body Litestar refuses itself.
    """
    try:
        return msgspec.json.decode(await request.body(), type=body_type)
    except msgspec.ValidationError as e:
        detail = f"Validation failed for {request.method} {request.url.path}"
        raise ValidationException(detail=detail, extra=[{"message": str(e)}]) from e
