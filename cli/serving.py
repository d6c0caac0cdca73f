"""`jobstream serve` and `jobstream api`: the app under uvicorn, and the NATS it runs on.

Without NATS_URL, `serve` starts its embedded nats-server *before* the app, and the app is
given that server's address: if it cannot start (its port taken by another server, its store
used by another process), the command ends with one line naming the port and `--nats-port`,
and never talks to a server it did not start. With NATS_URL (and for `api`), the server must
answer first (within `--wait` seconds), else one line says it cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Coroutine
from types import FrameType
from typing import Any

import msgspec
import uvicorn

from api.app import create_app
from api.http_protocol import JsonErrorsProtocol
from api.settings import Settings
from cli.nats_reach import probe_nats
from engine.jetstream.embedded import (
    EmbeddedNatsFailed,
    StoreInUse,
    default_conf,
    embedded_nats,
    ensure_credentials,
)
from engine.jetstream.errors import StoreUnavailable


class EmbeddedStartFailed(StoreUnavailable):
    """The embedded server did not start; the message names the port and `--nats-port`."""


GRACEFUL_SHUTDOWN_S = 10  # seconds
GC_YOUNG_THRESHOLD = 50_000  # Python's default is 700


def serve(settings: Settings, *, embedded: bool, wait_s: float) -> int:
    """Serve the app of `settings` until stopped: 0 after a clean stop (SIGTERM), 130 after
    Ctrl-C, 1 when uvicorn did not start; StoreUnavailable (one line) when its NATS cannot
    be had."""
    # uvicorn re-raises the SIGTERM it shut down on; with the default action the process would
    # then die "killed by SIGTERM" after a clean stop. Exit with status 0 instead.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        if embedded:
            return on_uvloop(_serve_embedded(settings))
        access = settings.nats_access
        assert access is not None, "not embedded: settings name a server"
        asyncio.run(probe_nats(access, wait_s))
        server = _server(settings)
        tune_gc()
        server.run()
    except KeyboardInterrupt:  # Ctrl-C: uvicorn stopped cleanly, then re-raised it
        return 130
    return 0 if server.started else 1


def on_uvloop(work: Coroutine[Any, Any, int]) -> int:
    """Run `work` on uvloop where it exists: less CPU per crawled page (docs/decisions.md)."""
    if sys.platform == "win32":
        return asyncio.run(work)
    import uvloop

    return uvloop.run(work)


async def _serve_embedded(settings: Settings) -> int:
    credentials = ensure_credentials(settings.data_dir)
    conf = settings.nats_conf or default_conf()
    port = settings.nats_port
    async with contextlib.AsyncExitStack() as stack:  # the server stops once the app did
        try:
            started = embedded_nats(settings.data_dir / "nats", port, conf, credentials)
            url = await stack.enter_async_context(started)
        except EmbeddedNatsFailed as e:
            raise EmbeddedStartFailed(start_failure(e)) from None
        server = _server(msgspec.structs.replace(settings, nats_url=credentials.access(url)))
        tune_gc()
        await server.serve()
    return 0 if server.started else 1


def start_failure(e: EmbeddedNatsFailed) -> str:
    """The one line saying why the embedded server did not start and what to do."""
    where = f"the embedded NATS server cannot start on port {e.port}"
    if isinstance(e, StoreInUse):
        return (
            f"{where}: {e.reason} (a `jobstream serve` of the same --data-dir?); stop that"
            " one, or start this one with another --data-dir and --nats-port"
        )
    reason = "the port is taken" if "address already in use" in e.reason else e.reason
    return (
        f"{where}: {reason} (another `jobstream serve`?); choose a free port with"
        " --nats-port, or set NATS_URL to use a NATS server you run"
    )


def tune_gc() -> None:
    """Collect young objects every `GC_YOUNG_THRESHOLD` allocations, not 700, and leave
    what exists now (modules, the app) out of every later collection.

    An event for a thousand stream readers allocates a callback per reader at once; with the
    default threshold that started a collection per event, which walked every reader's
    suspended coroutines (~1.8 us of each ~14 us delivery, docs/decisions.md). Garbage without
    cycles is freed at once either way; only cyclic garbage waits for the next collection.
    """
    gc.freeze()
    _young, *older = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *older)


def _server(settings: Settings) -> uvicorn.Server:
    return uvicorn.Server(uvicorn_config(create_app(settings), settings))


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """How the API's ASGI `app` is served (bench/_profiled_api.py serves it so too)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_level="info",
        access_log=False,  # a log line per request cost ~10% of create throughput (bench/)
        http=JsonErrorsProtocol,  # unparseable requests get a JSON 400 too
        # event streams close at shutdown (api/http_protocol.py); any other request still
        # open this long after a SIGTERM is cut off rather than holding the stop for ever
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)
