"""Liveness and readiness of an API node.

`/health/live` answers 200 while the process serves requests at all: a supervisor restarts
the node when it does not. `/health/ready` (and `/health`, the same) answers 200 only when
the node can do its work now: it is connected to NATS, JetStream answers for the `JOBS`
stream (which has a leader, so an append can succeed), and the read model runs and lags the
log by at most MAX_LAG_S (the age of its oldest event not yet applied); else 503 with the
same body, saying which part is missing. A load balancer sends traffic only to ready nodes.
"""

from __future__ import annotations

import nats.errors
import nats.js.errors
from litestar import get
from litestar.datastructures import State
from litestar.response import Response

from api.deps import RUNTIME_KEY
from api.runtime import Runtime
from api.schemas import Health, Liveness
from engine.domain.envelope import now_ms
from engine.jetstream.store import JOBS_STREAM

# How long the readiness check waits for JetStream: a stream with no leader does not answer.
PROBE_TIMEOUT_S = 1.0
# The read model may lag the log by this much (the age of its oldest unapplied event) and
# still serve: reads a few seconds stale are normal under load, minutes are not.
MAX_LAG_S = 10.0


@get("/health/live", exclude_from_auth=True, tags=["ops"])
async def health_live() -> Liveness:
    """200 while the process answers requests (whether or not it is ready)."""
    return Liveness(status="ok")


@get(["/health", "/health/ready"], exclude_from_auth=True, tags=["ops"])
async def health(state: State) -> Response[Health]:
    """200 when NATS is connected, the JOBS stream can take appends and the read model is
    at most MAX_LAG_S behind the log; else 503 (also before the runtime has started)."""
    runtime: Runtime | None = state.get(RUNTIME_KEY)
    body = await readiness(runtime) if runtime is not None else _starting()
    return Response(body, status_code=200 if body.status == "ok" else 503)


async def readiness(runtime: Runtime) -> Health:
    """The node's readiness, probing JetStream once (at most PROBE_TIMEOUT_S)."""
    projector = runtime.projector
    nats_ok = runtime.nc.is_connected
    last = await _last_seq(runtime) if nats_ok else None
    behind = max(0, last - projector.checkpoint) if last is not None else 0
    lag_s = await _lag_s(runtime, behind) if last is not None else 0.0
    proj_ok = projector.running and projector.caught_up.is_set() and lag_s <= MAX_LAG_S
    ok = nats_ok and last is not None and proj_ok
    return Health(
        status="ok" if ok else "unavailable", nats=nats_ok, projector=proj_ok,
        checkpoint=projector.checkpoint, can_append=last is not None, lag_events=behind,
        lag_s=round(lag_s, 3),
    )  # fmt: skip


def _starting() -> Health:
    return Health(status="unavailable", nats=False, projector=False, checkpoint=0)


async def _last_seq(runtime: Runtime) -> int | None:
    """The log's last sequence when the JOBS stream answers and has a leader, else None."""
    js = runtime.nc.jetstream(timeout=PROBE_TIMEOUT_S)
    try:
        info = await js.stream_info(JOBS_STREAM)
    except (nats.errors.Error, nats.js.errors.Error):
        return None
    if info.cluster is not None and not info.cluster.leader:
        return None
    return int(info.state.last_seq)


async def _lag_s(runtime: Runtime, behind: int) -> float:
    """How old the read model's oldest unapplied event is, in seconds (0 when none is)."""
    if behind == 0:
        return 0.0
    js = runtime.nc.jetstream(timeout=PROBE_TIMEOUT_S)
    try:
        msg = await js.get_msg(JOBS_STREAM, seq=runtime.projector.checkpoint + 1, direct=True)
        event = runtime.store.codec.decode(msg.data or b"")
    except (nats.errors.Error, nats.js.errors.Error, ValueError):
        return 0.0  # erased (a purged job) or unreadable: its age is unknown
    return max(0, now_ms() - event.at) / 1000
