"""`create_app(settings)`: the Litestar app, whose lifespan enters the process's runtime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from litestar import Litestar
from litestar.di import Provide

from api.auth import current_user
from api.dashboard import dashboard_router
from api.deps import RUNTIME_KEY, dependencies
from api.errors import exception_handlers
from api.health import health, health_live
from api.json_depth import BoundedRequest
from api.library_routes import LibraryController
from api.metrics import metrics
from api.openapi import openapi_config
from api.routes import JobsController
from api.runtime import open_runtime
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
            health_live,
            metrics,
            dashboard_router(),
        ],
        dependencies={"user": Provide(current_user), **dependencies()},
        exception_handlers=exception_handlers(),
        lifespan=[lifespan(settings)],
        openapi_config=openapi_config(),
        request_class=BoundedRequest,
    )
