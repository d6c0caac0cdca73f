"""The composition root: what a process opens, starts and stops, wired in one place.

`open_runtime(settings)` enters everything on one `AsyncExitStack` (so it all stops in the
reverse order it started, also when start-up fails half-way) and yields one `Runtime`, the
record the API's routes receive by dependency injection. `open_work` and `build_worker` are
the parts a worker-only process (`jobstream worker`) shares with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import aiosqlite
import msgspec
from nats.aio.client import Client as NATS

from api.jobs import JobsApi, open_idempotency
from api.limits import Limiter
from api.settings import Settings
from api.spiders import SpidersApi
from api.stream_tokens import StreamTokens, open_config, shared_secret
from api.users import UserExists, UserStore
from api.webhooks import WebhooksApi, delivery_settings
from engine.crawl.fetcher import FetchSettings
from engine.dispatcher import Dispatcher, open_dependents
from engine.domain.events import Codec
from engine.drain import drained
from engine.jetstream.embedded import default_conf, embedded_nats, ensure_credentials
from engine.jetstream.group_commit import GroupCommit
from engine.jetstream.library import LibraryStore
from engine.jetstream.nats_access import NatsAccess
from engine.jetstream.results import ResultStore, open_results
from engine.jetstream.spiders import SpiderStore
from engine.jetstream.store import EventStore, wait_for_jetstream
from engine.jetstream.work import ensure_work
from engine.metrics import Metrics
from engine.novels.handlers import NovelDeps
from engine.novels.politeness import HostGate
from engine.novels.sources.config import load_registry
from engine.novels.sources.registry import Registry
from engine.service import JobService
from engine.spiders.registry import installed_spiders
from engine.worker import Worker
from projections.projector import Projector
from projections.schema import open_db
from streams.deliveries import DeliveryLog
from streams.feed import JobFeed
from streams.hub import Hub
from streams.list_feed import ListFeed
from streams.webhook_store import WebhookStore
from streams.webhooks import Deliverer


class Runtime(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an API process serves from, started and owned by `open_runtime`.

    The dispatcher, in-process workers and the webhook deliverer run too but are not here:
    nothing serving a request calls them. The request limiter is `jobs.limiter`. `sources`
    is the novel source registry, built once: the built-ins, the installed plugins and the
    operator's sources file (`settings.sources_file`). `metrics` is the process's one
    registry of metrics, which its service, workers, deliverer and SSE streams report into.
    """

    settings: Settings
    nc: NATS
    store: EventStore
    users: UserStore
    projector: Projector
    results: ResultStore
    jobs: JobsApi
    webhooks: WebhooksApi
    hub: Hub
    job_feed: JobFeed
    list_feed: ListFeed
    stream_tokens: StreamTokens
    sources: Registry
    library: LibraryStore
    spiders: SpidersApi
    metrics: Metrics


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Open and start what `settings` describe; on leaving, stop it all, newest first."""
    async with contextlib.AsyncExitStack() as stack:
        yield await _start(stack, settings)


async def _start(stack: contextlib.AsyncExitStack, settings: Settings) -> Runtime:
    nc = await wait_for_jetstream(await nats_access(settings, stack))
    stack.push_async_callback(nc.close)
    metrics = Metrics()
    metrics.track_reconnects(lambda: int(nc.stats["reconnects"]))
    store = EventStore(nc, Codec())
    await store.ensure(settings.replicas)
    users = await UserStore.open(nc.jetstream(), settings.replicas)
    await ensure_admin(users, settings)
    projector, read_db = await _read_model(stack, settings, nc, store.codec)
    service = JobService(store, observe=metrics.appended, creates=GroupCommit(nc, store).create)
    sources = load_registry(settings.sources_file)
    results = await start_work(stack, nc, service, settings, sources, metrics)
    webhooks = await start_webhooks(stack, nc, store, settings, metrics)
    idempotency = await open_idempotency(nc.jetstream(), settings.replicas)
    jobs = JobsApi(service, projector, read_db, idempotency, Limiter(settings.limits))
    hub = await _start_hub(stack, nc, store, settings)
    interval, max_pending = settings.sse_progress_interval_s, settings.sse_max_pending
    return Runtime(
        settings=settings, nc=nc, store=store, users=users, projector=projector, results=results,
        jobs=jobs, webhooks=webhooks, hub=hub,
        job_feed=JobFeed(store, hub, progress_interval=interval, max_pending=max_pending),
        list_feed=ListFeed(read_db, projector, hub, interval=interval),
        stream_tokens=await _stream_tokens(nc, settings),
        library=await LibraryStore.open(nc, replicas=settings.replicas),
        sources=sources, spiders=await _spiders(nc, settings), metrics=metrics,
    )  # fmt: skip


async def nats_access(settings: Settings, stack: contextlib.AsyncExitStack) -> NatsAccess:
    """The server `settings` name; without one, an embedded server run on `stack` that admits
    only the credentials kept in the data dir (made on the first start)."""
    if (access := settings.nats_access) is not None:
        return access
    credentials = ensure_credentials(settings.data_dir)
    conf = settings.nats_conf or default_conf()
    server = embedded_nats(settings.data_dir / "nats", settings.nats_port, conf, credentials)
    return credentials.access(await stack.enter_async_context(server))


async def ensure_admin(users: UserStore, settings: Settings) -> None:
    """On a first start with no users, create `admin`, print its token once and save it."""
    if not settings.create_admin or not await users.is_empty():
        return
    try:
        token = await users.add("admin", admin=True)
    except UserExists:
        return  # another API node, starting at the same time, created it and saved its token
    path = settings.admin_token_path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    if settings.print_admin_token:
        print(f"Created user 'admin'. Token (shown once, saved to {path}):\n{token}", flush=True)


async def _read_model(
    stack: contextlib.AsyncExitStack, settings: Settings, nc: NATS, codec: Codec
) -> tuple[Projector, aiosqlite.Connection]:
    """The projector, following the log into its own connection, and a connection to read."""
    write_db = await open_db(settings.db_path)
    stack.push_async_callback(write_db.close)
    read_db = await open_db(settings.db_path)
    stack.push_async_callback(read_db.close)
    projector = Projector(write_db, nc, codec)
    await projector.start()
    stack.push_async_callback(projector.stop)
    return projector, read_db


async def open_work(nc: NATS, settings: Settings) -> ResultStore:
    """The WORK stream and consumers (with `settings`' ack wait) and RESULTS, ensured; the
    result store workers record into."""
    js = nc.jetstream()
    await ensure_work(js, settings.work_ack_wait_s, replicas=settings.replicas)
    return await open_results(js, nc.max_payload, settings.replicas)


def build_worker(
    nc: NATS, service: JobService, results: ResultStore, settings: Settings, *,
    burst: bool = False, novels: NovelDeps | None = None, metrics: Metrics | None = None,
) -> Worker:  # fmt: skip
    """A worker with `settings`' concurrency, attempts and private-network policy; `novels`
    shared with the process's other workers (default: its own, see `novel_deps`); its
    fetches counted in `metrics`, when given."""
    observe = metrics.fetched if metrics is not None else None
    fetching = FetchSettings(allow_private=settings.allow_private_networks, observe=observe)
    return Worker(
        nc, service, results, fetching,
        concurrency=settings.worker_concurrency, burst=burst, max_attempts=settings.max_attempts,
        novels=novels or novel_deps(settings),
    )  # fmt: skip


def novel_deps(settings: Settings, sources: Registry | None = None) -> NovelDeps:
    """What the novel jobs of a process's workers share: the sources (built with
    `settings.sources_file` if not given) and one gate, so `settings.novel_politeness` bounds
    each host for the whole process."""
    gate = HostGate(settings.novel_politeness)
    return NovelDeps(sources=sources or load_registry(settings.sources_file), gate=gate)


async def start_work(
    stack: contextlib.AsyncExitStack, nc: NATS, service: JobService, settings: Settings,
    sources: Registry | None = None, metrics: Metrics | None = None,
) -> ResultStore:  # fmt: skip
    """The dispatcher, and `settings.workers` in-process workers (0 = none), each drained
    (its jobs finished, or after `settings.worker_drain_s` left for redelivery) when
    `stack` closes; they read novels with
    `sources`, share one per-host gate and count their fetches in `metrics`."""
    results = await open_work(nc, settings)
    dispatcher = Dispatcher(nc, service, await open_dependents(nc, settings.replicas))
    await dispatcher.start()
    stack.push_async_callback(dispatcher.stop)
    novels = novel_deps(settings, sources)
    for _ in range(settings.workers):
        worker = build_worker(nc, service, results, settings, novels=novels, metrics=metrics)
        task = asyncio.create_task(worker.run())
        stack.push_async_callback(drained, worker, task, settings.worker_drain_s)
    return results


async def start_webhooks(
    stack: contextlib.AsyncExitStack, nc: NATS, events: EventStore, settings: Settings,
    metrics: Metrics | None = None,
) -> WebhooksApi:  # fmt: skip
    """Open the webhook bucket and the attempts stream, and start this process's deliverer
    (its attempts counted in `metrics`, when given)."""
    store = await WebhookStore.open(nc.jetstream(), settings.replicas)
    deliveries = DeliveryLog(nc)
    await deliveries.ensure(settings.replicas)
    on_attempt = metrics.webhook_attempt if metrics is not None else None
    deliverer = Deliverer(
        nc, events, store, deliveries, delivery_settings(settings), on_attempt=on_attempt
    )
    await deliverer.start()
    stack.push_async_callback(deliverer.stop)
    allow_private = settings.allow_private_networks
    return WebhooksApi(store, deliveries, events, deliverer, allow_private=allow_private)


async def _start_hub(
    stack: contextlib.AsyncExitStack, nc: NATS, store: EventStore, settings: Settings
) -> Hub:
    """This process's one subscription for live readers."""
    hub = Hub(nc, store.codec, max_pending=settings.sse_max_pending)
    await hub.start()
    stack.push_async_callback(hub.stop)
    return hub


async def _spiders(nc: NATS, settings: Settings) -> SpidersApi:
    """The spiders of every user (the `spiders` bucket) and those installed here (entry
    points of the group `jobstream.spiders`, loaded once)."""
    store = await SpiderStore.open(nc.jetstream(), settings.replicas)
    return SpidersApi(store, installed_spiders(), allow_private=settings.allow_private_networks)


async def _stream_tokens(nc: NATS, settings: Settings) -> StreamTokens:
    """Stream tokens signed with the secret every API node of the cluster shares."""
    secret = await shared_secret(await open_config(nc.jetstream(), settings.replicas))
    return StreamTokens(secret, settings.stream_token_ttl_s)
