"""How a worker's run of a job ends: the handler's outcome (a handler bug ends the job, not
the worker) and the terminal event appended for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

import nats.errors

from engine.domain.commands import FailJob, FinishJob
from engine.domain.envelope import command_envelope
from engine.domain.errors import JobConflict, JobNotFound
from engine.domain.state import JobState
from engine.handlers import RunOutcome, handler_for
from engine.jetstream.errors import StoreUnavailable
from engine.run import RunContext
from engine.service import JobService

log = logging.getLogger("engine.worker")

# Errors that mean the store, not the job, failed: the job is resumed, never failed for them.
STORE_ERRORS = (StoreUnavailable, nats.errors.Error)


async def handle(ctx: RunContext) -> RunOutcome:
    """The job's handler run on `ctx`; a store error propagates, any other is the outcome."""
    try:
        return await handler_for(ctx.job.type)(ctx)
    except STORE_ERRORS:
        raise
    except Exception as e:  # a handler bug must end the job, not the worker
        log.exception("job %s crashed", ctx.job.id)
        return RunOutcome(False, f"internal error: {type(e).__name__}: {e}")


async def finish(
    service: JobService, worker_id: str, job_id: str, outcome: RunOutcome,
    recorded: JobState | None = None,
) -> None:  # fmt: skip
    """Append the run's end: decided on the job as recorded when there is one (no read of
    the run's own events, thousands for a crawl or a spider), else on a full load."""
    if outcome.handed_off:  # expanded: the dispatcher ends the job after its children
        return
    with contextlib.suppress(JobConflict):
        env = command_envelope(job_id, worker_id)
        cmd = FinishJob(**env, ok=outcome.ok, error=outcome.error)
        if recorded is not None:
            await service.execute_on(cmd, recorded)
        else:
            await service.execute(cmd)


async def fail(service: JobService, worker_id: str, job_id: str, error: str) -> None:
    """Fail the job with `error`, unless it already ended or does not exist."""
    with contextlib.suppress(JobConflict, JobNotFound):
        await service.execute(FailJob(**command_envelope(job_id, worker_id), error=error))


def discard(work: Awaitable[None]) -> None:
    """Close a coroutine that will not be awaited (no "never awaited" warning)."""
    if asyncio.iscoroutine(work):
        work.close()
