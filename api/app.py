"""`create_app(settings)`: the Litestar app, whose lifespan enters the process's runtime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.response import Response

from api.auth import current_user
from api.dashboard import dashboard_router
from api.deps import RUNTIME_KEY, dependencies
from api.errors import exception_handlers
from api.json_depth import BoundedRequest
from api.library_routes import LibraryController
from api.metrics import metrics
from api.openapi import openapi_config
from api.routes import JobsController
from api.runtime import Runtime, open_runtime
from api.schemas import Health
from api.settings import Settings
from api.spider_routes import SpiderController
from api.stream_routes import StreamController, stream_token
from api.webhook_routes import WebhookController
from api.work_routes import WorkController

Lifespan = Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]


def lifespan(settings: Settings) -> Lifespan:
    """The app's lifespan: the runtime of `settings`, stored once on the app's state for the
    dependencies to hand out, open while the app serves."""

    @contextlib.asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime:
            app.state[RUNTIME_KEY] = runtime
            yield

    return run


@get("/health", exclude_from_auth=True, tags=["ops"])
async def health(state: State) -> Response[Health]:
    """200 when NATS is connected and the read model has caught up with the log, else 503
    (also before the runtime has started)."""
    runtime: Runtime | None = state.get(RUNTIME_KEY)
    projector = runtime.projector if runtime is not None else None
    nats_ok = bool(runtime is not None and runtime.nc.is_connected)
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
    return Litestar(
        route_handlers=[
            JobsController,
            WorkController,
            WebhookController,
            LibraryController,
            SpiderController,
            StreamController,
            stream_token,
            health,
            metrics,
            dashboard_router(),
        ],
        dependencies={"user": Provide(current_user), **dependencies()},
        exception_handlers=exception_handlers(),
        lifespan=[lifespan(settings)],
        openapi_config=openapi_config(),
        request_class=BoundedRequest,
    )
