"""Held runs: a one-URL SCRAPE stored in one append once its fetch is done.

A worker runs a pending SCRAPE held (RunContext's `held`): its events are kept, not stored.
When the handler is done within FUSE_WITHIN_S, the page body is stored, then the run's
start, events and end go to the log as one atomic append, conditional on the job being as
loaded (no reads of the run's own events); both writes are gathered with the other slots'
into atomic batches (engine/jetstream/batching.py). A run that takes longer appends its
start then (the event keeps the time the run began) and goes on as any other: it hears
cancels, and a crash leaves its attempt in the log. A cancel of the still-pending job, or
any other change, makes the append fail; the job is then loaded again and decided as usual.

A work item may carry the job's creation (WorkItem `created`): on its first delivery the
worker starts from that (`as_created`) instead of reading the job back. Whatever was written
since (a cancel, a delete, a run by whoever took a duplicate item) makes the held append
fail as above, and the job is then read and decided again. Such a run that takes longer
than FUSE_WITHIN_S reads the job before appending its start, and is dropped (the job decided
again) when anything was written since: a duplicate item's job may be running elsewhere. A
redelivered item, and every job that is not fusable, read the job first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

import msgspec
from nats.aio.client import Client as NATS

from engine.domain.commands import FinishJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope
from engine.domain.events import AnyEvent
from engine.domain.model import JobStatus, JobType
from engine.domain.state import JobState, fold
from engine.handlers import RunOutcome
from engine.jetstream.batching import GroupWriter, job_messages
from engine.jetstream.results import ResultStore
from engine.jetstream.work import WorkItem
from engine.run import RunContext
from engine.service import JobService

Body = tuple[str, bytes]  # a page body's RESULTS subject and data
# A held run done within this is stored in one append; a slower one is started then. Not a
# wait: a fast run never meets it; it bounds how long a running job shows pending.
FUSE_WITHIN_S = 0.25


def fusable(state: JobState) -> bool:
    """A job that may run held: a pending SCRAPE (one URL) nobody asked to cancel."""
    return (
        state.type == JobType.SCRAPE and state.status == JobStatus.PENDING
        and not state.cancel_requested and not state.deleted
    )  # fmt: skip


def as_created(item: WorkItem, deliveries: int) -> JobState | None:
    """The job as the creation `item` carries makes it (version: the item's trigger), when
    that may stand in for reading the job back: on the item's first delivery, for a job
    that may run held. None otherwise: the caller loads the job from the log."""
    created = item.created
    if created is None or deliveries != 1 or created.job_id != item.job_id:
        return None
    state = fold([(item.trigger, created)])
    return state if state is not None and fusable(state) else None


def folded(state: JobState, events: Sequence[AnyEvent]) -> JobState:
    """`state` after `events`, not appended: its version stays the loaded one."""
    after = fold([(state.version + i, e) for i, e in enumerate(events, start=1)], state)
    assert after is not None
    return msgspec.structs.replace(after, version=state.version)


class HeldWrites:
    """A worker's writes of held runs, shared by its slots."""

    def __init__(self, nc: NATS, service: JobService, results: ResultStore, worker_id: str) -> None:
        self._service = service
        self._results = results
        self._worker_id = worker_id
        self._bodies, self._events = GroupWriter(nc), GroupWriter(nc)

    def plan(
        self, state: JobState, started: list[AnyEvent], ctx: RunContext, outcome: RunOutcome
    ) -> tuple[list[Body], list[AnyEvent]]:
        """A held run's page bodies, and its start, events and end decided on `state`."""
        env = command_envelope(state.id, self._worker_id)
        finish = FinishJob(**env, ok=outcome.ok, error=outcome.error)
        held = ctx.held_events
        events = [*started, *(cast(AnyEvent, e) for e, _, _ in held)]
        events += decide(folded(state, started), finish)
        return [body for _, _, body in held if body is not None], events

    async def store(self, state: JobState, bodies: list[Body], events: list[AnyEvent]) -> None:
        """The bodies stored, then the events appended on `state` (all or none; shielded):
        ConcurrencyConflict when the job changed since, StoreUnavailable or a NATS error
        when the store did not answer (the append's outcome is then unknown)."""
        await asyncio.gather(*(self._put(*body) for body in bodies))
        await asyncio.shield(self._service.append_decided(state, events, self._append))

    async def _put(self, key: str, data: bytes) -> int:
        alone = lambda: self._results.put(key, data)  # noqa: E731
        return await self._bodies.write(key, [(key, data, None)], alone)

    async def _append(self, events: Sequence[AnyEvent], expected: int) -> int:
        """`events` of one job appended if its last sequence is `expected`, in a batch with
        other slots' (EventLog.append's contract)."""
        store = self._service.store
        messages = job_messages(store.codec, events, expected)
        alone = lambda: store.append(events, expected)  # noqa: E731
        return await self._events.write(events[0].job_id, messages, alone)
