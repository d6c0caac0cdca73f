"""Dependency injection: the `Runtime` the lifespan stored, and the typed parts routes take.

A route names what it needs as a parameter (`jobs: Jobs`, `runtime: RuntimeDep`); Litestar
fills it from `dependencies()`, registered on the app. Nothing reads `app.state` but
`runtime_of` (and `/health`, which must answer before there is a runtime).
"""

from __future__ import annotations

from collections.abc import Callable

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ServiceUnavailableException

from api.jobs import JobsApi
from api.runtime import Runtime
from api.spiders import SpidersApi
from api.stream_tokens import StreamTokens
from api.users import UserStore
from api.webhooks import WebhooksApi

RUNTIME_KEY = "runtime"

RuntimeDep = NamedDependency[Runtime]
Jobs = NamedDependency[JobsApi]
Webhooks = NamedDependency[WebhooksApi]
Users = NamedDependency[UserStore]
Tokens = NamedDependency[StreamTokens]
Spiders = NamedDependency[SpidersApi]


def runtime_of(state: State) -> Runtime:
    """The runtime the lifespan stored; a 503 before it has started."""
    runtime = state.get(RUNTIME_KEY)
    if not isinstance(runtime, Runtime):
        raise ServiceUnavailableException("the service is starting")
    return runtime


def _jobs(runtime: RuntimeDep) -> JobsApi:
    return runtime.jobs


def _webhooks(runtime: RuntimeDep) -> WebhooksApi:
    return runtime.webhooks


def _users(runtime: RuntimeDep) -> UserStore:
    return runtime.users


def _spiders(runtime: RuntimeDep) -> SpidersApi:
    return runtime.spiders


def _stream_tokens(runtime: RuntimeDep) -> StreamTokens:
    return runtime.stream_tokens


def dependencies() -> dict[str, Provide]:
    """The app's providers, by the parameter names routes use. All are plain attribute reads,
    so they run on the event loop."""
    providers: dict[str, Callable[..., object]] = {
        RUNTIME_KEY: runtime_of,
        "jobs": _jobs,
        "webhooks": _webhooks,
        "users": _users,
        "stream_tokens": _stream_tokens,
        "spiders": _spiders,
    }
    return {name: Provide(fn, sync_to_thread=False) for name, fn in providers.items()}
