"""Erasing a job for a data-removal request: a tombstone first, then its log and its bodies.

The tombstone (`JobPurged`) is appended with the usual optimistic check, then every event of
the job logged before it is purged from `JOBS` and every body from `RESULTS`. The tombstone
stays: it is how the read model (live, or rebuilt from the log) learns to drop the job's
rows, it records who erased the job and when, and it keeps the stream's last message in
place, whose removal would leave readers waiting for a sequence that never comes.
"""

from __future__ import annotations

import msgspec
from nats.aio.client import Client as NATS

from engine.domain.batches import children_of
from engine.domain.commands import PurgeJob
from engine.domain.envelope import command_envelope
from engine.domain.errors import JobConflict, JobNotFound
from engine.domain.eventlog import EventLog
from engine.domain.ids import job_token
from engine.domain.state import JobState
from engine.jetstream.results import RESULTS_STREAM
from engine.jetstream.store import purge_subject
from engine.service import JobService


class PurgeReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a purge erased; `seq` is the last tombstone's sequence (for read-your-writes)."""

    job_ids: list[str]
    events_erased: int
    results_erased: int
    seq: int


async def purge_results(nc: NATS, job_id: str) -> int:
    """Erase every stored page body of the job; returns how many."""
    return await purge_subject(nc, RESULTS_STREAM, f"results.{job_token(job_id)}.>")


async def _family(store: EventLog, job_id: str) -> list[JobState]:
    """The job and every job below it (the children of a batch or an expansion, theirs in
    turn), each after its own children; all must have finished."""
    job = await store.load(job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    family = await _tree(store, job)
    running = [s.id for s in family if not s.is_done]
    if running:
        raise JobConflict(
            f"job {running[0]} has not finished; cancel it and purge once it has stopped"
        )
    return family


async def _tree(store: EventLog, job: JobState) -> list[JobState]:
    """`job` after every job below it, each after its own children."""
    below: list[JobState] = []
    for cid in children_of(job):
        child = await store.load(cid)
        if child is not None:
            below += await _tree(store, child)
    return [*below, job]


async def purge_job(service: JobService, nc: NATS, job_id: str, actor: str) -> PurgeReport:
    """Erase the job and every job below it from the log and the result bodies.

    Refuses (JobConflict) while any of them has not finished: a running worker would keep
    writing pages after the erasure. A job purged before is purged again (a new tombstone
    replaces the old one), which also erases anything written after the first purge.
    """
    events = results = seq = 0
    family = await _family(service.store, job_id)
    for job in family:
        outcome = await service.execute(PurgeJob(**command_envelope(job.id, actor)), known=job)
        events += await service.store.purge(job.id, before=outcome.seq)
        results += await purge_results(nc, job.id)
        seq = outcome.seq
    ids = [job.id for job in family]
    return PurgeReport(job_ids=ids, events_erased=events, results_erased=results, seq=seq)
