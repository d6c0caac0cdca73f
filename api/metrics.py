"""`GET /metrics`: the process's metrics (engine/metrics.py) in the Prometheus text format.

Who may read them: an admin's token, or anyone when the node runs with `metrics_public`
(`JOBSTREAM_METRICS_PUBLIC=1`, for a scraper on a private network that holds no token). The
counts say how busy the service is and what kinds of jobs it runs, nothing of any user's jobs,
but they are the operator's, so by default only admins read them (docs/decisions.md).

The gauges of shared state are read when the metrics are: each lane's waiting work items from
its WORK consumer, and the projector's lag from the JOBS stream's last sequence and the time of
the first event the read model has not applied. When JetStream does not answer within
`READ_TIMEOUT_S`, those gauges are NaN (unknown) and the rest is served as usual: an outage is
exactly when an operator reads them.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import nats.errors
from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.response import Response
from nats.js import JetStreamContext
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from api.auth import current_user
from api.deps import RuntimeDep
from api.runtime import Runtime
from api.users import User
from engine.domain.envelope import now_ms
from engine.domain.errors import Forbidden
from engine.jetstream.store import JOBS_STREAM
from engine.jetstream.work import LANES, WORK_STREAM, consumer_name
from engine.metrics import Metrics

READ_TIMEOUT_S = 2.0
UNKNOWN = math.nan
MetricsUser = NamedDependency[User | None]


async def metrics_user(request: Request[Any, Any, Any], runtime: RuntimeDep) -> User | None:
    """Who reads the metrics: None when they are public, else an admin (401 without a valid
    token, 403 for other users)."""
    if runtime.settings.metrics_public:
        return None
    user = await current_user(request, runtime.users)
    if not user.is_admin:
        raise Forbidden("metrics: only an admin may read them (or set metrics_public)")
    return user


@get(
    "/metrics", tags=["ops"], media_type=CONTENT_TYPE_PLAIN_0_0_4,
    dependencies={"user": Provide(metrics_user)},
)  # fmt: skip
async def metrics(user: MetricsUser, runtime: RuntimeDep) -> Response[bytes]:
    """This node's metrics in the Prometheus text format (version 0.0.4): jobs created,
    started and finished by type and status, fetches, bytes and fetch latency, queue depth
    per lane, projector lag, SSE clients, webhook deliveries by outcome, NATS reconnects.
    Counters count this process's doings: sum them over the nodes for the cluster."""
    await refresh(runtime)
    body = generate_latest(runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


async def refresh(runtime: Runtime) -> None:
    """Set the gauges of shared state, each NaN when JetStream cannot tell it now."""
    js = runtime.nc.jetstream(timeout=READ_TIMEOUT_S)
    m = runtime.metrics
    try:
        async with asyncio.timeout(READ_TIMEOUT_S * 2):
            await _queue_depth(js, m)
            await _projector_lag(js, runtime)
    except (nats.errors.Error, TimeoutError, OSError):
        for _, lane in LANES:
            m.queue_depth.labels(lane).set(UNKNOWN)
        m.projector_lag_events.set(UNKNOWN)
        m.projector_lag_seconds.set(UNKNOWN)


async def _queue_depth(js: JetStreamContext, m: Metrics) -> None:
    for _, lane in LANES:
        info = await js.consumer_info(WORK_STREAM, consumer_name(lane))
        m.queue_depth.labels(lane).set(info.num_pending or 0)


async def _projector_lag(js: JetStreamContext, runtime: Runtime) -> None:
    """Events behind: the log's last sequence past the checkpoint. Seconds behind: the age of
    the first event not applied (0 when none is)."""
    checkpoint = runtime.projector.checkpoint
    last = int((await js.stream_info(JOBS_STREAM)).state.last_seq)
    m = runtime.metrics
    m.projector_lag_events.set(max(0, last - checkpoint))
    if last <= checkpoint:
        m.projector_lag_seconds.set(0)
        return
    first = await js.get_msg(JOBS_STREAM, seq=checkpoint + 1, next=True)
    at = runtime.store.codec.decode(first.data or b"").at
    m.projector_lag_seconds.set(max(0.0, (now_ms() - at) / 1000))
