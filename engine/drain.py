"""Stopping a worker in bounded time: drained first, then what still runs is stopped.

A drained worker takes no new item and lets the jobs in hand finish, which for a crawl with
a long politeness delay, or a large novel, may take hours: the service's stop (SIGTERM,
a deploy) would wait for them. After the grace period the runs still going are cancelled,
their items left unacked: JetStream hands each to a worker again after ack_wait, and that
worker resumes the job from the log, as after a crash (what was recorded stays; a page
fetched and not yet recorded is fetched again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from engine.worker import Worker

log = logging.getLogger(__name__)

DRAIN_S = 30.0  # default grace for the jobs in hand when a worker stops


async def drained(worker: Worker, task: asyncio.Task[None], grace_s: float = DRAIN_S) -> bool:
    """Drain `worker` (running as `task`) and wait up to `grace_s` seconds for its jobs in
    hand; then cancel the runs still going (see the module's docstring). Whether every job
    in hand ended in time. A failure of the worker itself is raised."""
    worker.drain()
    done, _ = await asyncio.wait({task}, timeout=grace_s)
    if done:
        task.result()
        return True
    log.warning(
        "worker %s: jobs still running %g s after the stop began; left for redelivery",
        worker.worker_id, grace_s,
    )  # fmt: skip
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False
