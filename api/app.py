"""`create_app(settings)`: the Litestar app and the one lifespan that owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
from litestar import Litestar, Request, get
from litestar.di import Provide
from litestar.response import Response
from nats.aio.client import Client as NATS

from api.auth import current_user
from api.dashboard import dashboard_router
from api.errors import exception_handlers
from api.jobs import JobsApi, open_idempotency
from api.json_depth import BoundedRequest
from api.limits import Limiter
from api.openapi import openapi_config
from api.routes import JobsController
from api.runtime import build_worker, open_work
from api.schemas import Health
from api.settings import Settings
from api.stream_routes import StreamController, stream_token
from api.stream_tokens import StreamTokens, open_config, shared_secret
from api.users import UserStore
from api.webhook_routes import WebhookController, start_webhooks
from api.work_routes import WorkController
from engine.dispatcher import Dispatcher, open_dependents
from engine.domain.events import Codec
from engine.jetstream.embedded import default_conf, embedded_nats, ensure_credentials
from engine.jetstream.nats_access import NatsAccess
from engine.jetstream.results import ResultStore
from engine.jetstream.store import EventStore, wait_for_jetstream
from engine.service import JobService
from engine.worker import Worker
from projections.projector import Projector
from projections.schema import open_db
from streams.feed import JobFeed
from streams.hub import Hub
from streams.list_feed import ListFeed

log = logging.getLogger(__name__)


async def ensure_admin(users: UserStore, settings: Settings) -> None:
    """On a first start with no users, create `admin`, print its token once and save it."""
    if not settings.create_admin or not await users.is_empty():
        return
    token = await users.add("admin", admin=True)
    path = settings.admin_token_path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    if settings.print_admin_token:
        print(f"Created user 'admin'. Token (shown once, saved to {path}):\n{token}", flush=True)


async def nats_access(settings: Settings, stack: contextlib.AsyncExitStack) -> NatsAccess:
    """The server `settings` name; without one, an embedded server run on `stack` that admits
    only the credentials kept in the data dir (made on the first start)."""
    if (access := settings.nats_access) is not None:
        return access
    credentials = ensure_credentials(settings.data_dir)
    conf = settings.nats_conf or default_conf()
    server = embedded_nats(settings.data_dir / "nats", settings.nats_port, conf, credentials)
    return credentials.access(await stack.enter_async_context(server))


async def start_runtime(
    stack: contextlib.AsyncExitStack, nc: NATS, service: JobService, settings: Settings
) -> ResultStore:
    """The dispatcher, and `settings.workers` in-process workers (0 = none)."""
    results = await open_work(nc, settings)
    dispatcher = Dispatcher(nc, service, await open_dependents(nc))
    await dispatcher.start()
    stack.push_async_callback(dispatcher.stop)
    for _ in range(settings.workers):
        worker = build_worker(nc, service, results, settings)
        task = asyncio.create_task(worker.run())
        stack.push_async_callback(_drained, worker, task)
    return results


async def start_streams(
    app: Litestar, stack: contextlib.AsyncExitStack, store: EventStore, projector: Projector,
    db: aiosqlite.Connection,
) -> None:  # fmt: skip
    """The hub (this process's one subscription for live readers) and what serves from it."""
    settings: Settings = app.state.settings
    hub = Hub(app.state.nc, store.codec, max_pending=settings.sse_max_pending)
    await hub.start()
    stack.push_async_callback(hub.stop)
    app.state.hub = hub
    app.state.job_feed = JobFeed(
        store, hub, progress_interval=settings.sse_progress_interval_s,
        max_pending=settings.sse_max_pending,
    )  # fmt: skip
    app.state.list_feed = ListFeed(db, projector, hub, interval=settings.sse_progress_interval_s)
    secret = await shared_secret(await open_config(app.state.nc.jetstream()))
    app.state.stream_tokens = StreamTokens(secret, settings.stream_token_ttl_s)


async def _drained(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.drain()
    await task


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with contextlib.AsyncExitStack() as stack:
        nc = await wait_for_jetstream(await nats_access(settings, stack))
        stack.push_async_callback(nc.close)
        codec = Codec()
        store = EventStore(nc, codec)
        await store.ensure()
        js = nc.jetstream()
        users = await UserStore.open(js)
        await ensure_admin(users, settings)
        write_db = await open_db(settings.db_path)
        stack.push_async_callback(write_db.close)
        read_db = await open_db(settings.db_path)
        stack.push_async_callback(read_db.close)
        projector = Projector(write_db, nc, codec)
        await projector.start()
        stack.push_async_callback(projector.stop)
        service = JobService(store)
        app.state.results = await start_runtime(stack, nc, service, settings)
        app.state.webhooks = await start_webhooks(stack, nc, store, settings)
        app.state.nc = nc
        app.state.users = users
        app.state.projector = projector
        idempotency = await open_idempotency(js)
        limiter = Limiter(settings.limits)
        app.state.jobs = JobsApi(service, projector, read_db, idempotency, limiter)
        await start_streams(app, stack, store, projector, read_db)
        yield


@get("/health", exclude_from_auth=True, tags=["ops"])
async def health(request: Request[Any, Any, Any]) -> Response[Health]:
    """200 when NATS is connected and the read model has caught up with the log, else 503."""
    projector: Projector | None = getattr(request.app.state, "projector", None)
    nc = getattr(request.app.state, "nc", None)
    nats_ok = bool(nc is not None and nc.is_connected)
    proj_ok = bool(projector is not None and projector.running and projector.caught_up.is_set())
    ok = nats_ok and proj_ok
    body = Health(
        status="ok" if ok else "unavailable",
        nats=nats_ok,
        projector=proj_ok,
        checkpoint=projector.checkpoint if projector else 0,
    )
    return Response(body, status_code=200 if ok else 503)


def create_app(settings: Settings) -> Litestar:
    """Build the app; nothing is opened until the lifespan runs."""
    app = Litestar(
        route_handlers=[
            JobsController,
            WorkController,
            WebhookController,
            StreamController,
            stream_token,
            health,
            dashboard_router(),
        ],
        dependencies={"user": Provide(current_user)},
        exception_handlers=exception_handlers(),
        lifespan=[lifespan],
        openapi_config=openapi_config(),
        request_class=BoundedRequest,
    )
    app.state.settings = settings
    return app
