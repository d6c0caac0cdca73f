"""Bearer-token authentication as a Litestar dependency."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from api.refusals import Unauthorized
from api.users import User, UserStore


async def current_user(request: Request[Any, Any, Any], users: NamedDependency[UserStore]) -> User:
    """The caller, from `Authorization: Bearer <token>`; 401 when missing or unknown."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return await users.resolve(token.strip())
