"""Live streams over SSE: one job's events, the jobs feed, and stream tokens for browsers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter
from litestar.types import ASGIApp

from api.auth import current_user
from api.deps import RuntimeDep, Tokens, Users
from api.ids import JobIdPath
from api.includes import job_view
from api.jobs import viewer_of
from api.refusals import Unauthorized
from api.routes import CurrentUser, IntFilter
from api.runtime import Runtime
from api.schemas import StreamToken
from api.sse import EventStream
from api.users import User
from engine.domain.errors import InvalidCommand
from engine.domain.model import Category
from engine.domain.state import JobState
from projections.apply import row_of
from projections.queries import JobFilter, JobRow
from streams import wire
from streams.frames import Frame

TokenParam = Annotated[
    str | None, QueryParameter(description="A stream token, for clients that cannot set headers.")
]
StreamUser = NamedDependency[User]


async def stream_user(
    request: Request[Any, Any, Any], users: Users, stream_tokens: Tokens, token: TokenParam = None
) -> User:
    """The caller, from the bearer header or else a `?token=` stream token; 401 otherwise."""
    if request.headers.get("authorization"):
        return await current_user(request, users)
    if token:
        return stream_tokens.verify(token)
    raise Unauthorized("missing bearer token or ?token= stream token")


def last_event_id(request: Request[Any, Any, Any]) -> int | None:
    """`Last-Event-ID` (or `?last_event_id=`) as a sequence; 422 naming it when malformed."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # "²".isdigit() too
        raise InvalidCommand("Last-Event-ID: expected a sequence number", field="Last-Event-ID")
    return int(raw)


def _sse(
    frames: AsyncGenerator[Frame, None], encode: Callable[[Frame], bytes]
) -> AsyncGenerator[bytes, None]:
    async def gen() -> AsyncGenerator[bytes, None]:
        async with contextlib.aclosing(frames) as source:
            async for frame in source:
                yield encode(frame)

    return gen()


def _response(runtime: Runtime, user: User, chunks: AsyncIterator[bytes]) -> ASGIApp:
    """The SSE response, counted as one of the user's open streams (429 past the limit)."""
    settings = runtime.settings
    response = EventStream(
        chunks, ping_s=settings.sse_ping_s, send_timeout_s=settings.sse_send_timeout_s,
        clients=runtime.metrics.sse_clients,
    )  # fmt: skip
    return runtime.jobs.limiter.stream(user, response)


def _snapshot(state: JobState) -> dict[str, Any]:
    return _render(row_of(state))


def _render(row: JobRow) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(job_view(row, progress=True))
    return data


class StreamController(Controller):
    path = "/api"
    tags = ["streams"]
    dependencies = {"user": Provide(stream_user)}

    @get("/job/{job_id:str}/stream")
    async def job_stream(
        self, request: Request[Any, Any, Any], user: StreamUser, runtime: RuntimeDep,
        job_id: JobIdPath,
    ) -> ASGIApp:  # fmt: skip
        """Server-sent events: `snapshot`, then `page`, `progress`, `log`, `status`, `done`.

        Each event's id is its log sequence; reconnect with `Last-Event-ID` to get exactly
        the events after it. A reader too slow to keep up gets an `error` event and is closed.
        """
        after = last_event_id(request)
        await runtime.jobs.get(user, job_id)  # 404 for unknown jobs and other users' jobs
        frames = runtime.job_feed.stream(job_id, after, _snapshot)
        return _response(runtime, user, frames)

    @get("/jobs/stream")
    async def jobs_stream(
        self,
        request: Request[Any, Any, Any],
        user: StreamUser,
        runtime: RuntimeDep,
        type: IntFilter = None,
        status: IntFilter = None,
        priority: IntFilter = None,
        parent_job_id: FromQuery[str | None] = None,
        is_done: FromQuery[bool | None] = None,
        category: FromQuery[Category | None] = None,
    ) -> ASGIApp:
        """Server-sent events of every job the caller may see that matches the list filters:
        a `snapshot` of the first page, then `status`, `progress` and `removed` per job."""
        f = JobFilter(
            viewer=viewer_of(user), type=type, status=status,
            priority=priority, parent_job_id=parent_job_id, is_done=is_done,
            category=category.value if category else None,
        )  # fmt: skip
        frames = runtime.list_feed.frames(f, last_event_id(request), _render)
        return _response(runtime, user, _sse(frames, wire.encode))


@post("/api/stream-token", status_code=201, tags=["streams"])
async def stream_token(user: CurrentUser, stream_tokens: Tokens) -> StreamToken:
    """A short-lived token for `?token=` on the stream endpoints, scoped to the caller.

    Only a bearer token can ask for one, so a leaked stream token cannot renew itself.
    """
    token, expires_at = stream_tokens.issue(user)
    return StreamToken(token=token, expires_at=expires_at)
