"""What every part of the dispatcher shares: its name, its handles, carrying out a command
and the dependents bucket (which jobs wait for which)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TypeVar

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from engine.domain.commands import AnyCommand, FailJob
from engine.domain.envelope import command_envelope
from engine.domain.errors import Refusal
from engine.domain.eventlog import EventLog
from engine.domain.events import (
    AnyEvent,
    JobCanceled,
    JobCreated,
    JobFailed,
    JobSucceeded,
    RetryRequested,
)
from engine.domain.model import JobStatus
from engine.domain.state import JobState
from engine.jetstream.errors import StoreError
from engine.jetstream.kv import CREATE_REFUSED, direct_if_single, is_marker, open_bucket
from engine.jetstream.store import direct_last_for
from engine.service import JobService

log = logging.getLogger("engine.dispatcher")

DISPATCHER = "dispatcher"
ENDS = (JobSucceeded, JobFailed, JobCanceled)  # a job's end, whichever it is
_KEPT_BATCHES = 256  # unfinished batch parents kept between their children's roll-ups
# Creations this dispatcher took, kept for their jobs' ends (least recent dropped first)
_KEPT_CREATIONS = 10_000
DEPENDENTS = "dependents"  # the bucket: a job's id -> the ids of the jobs waiting for it
_DEPS_STREAM = f"KV_{DEPENDENTS}"
_DEPS_PREFIX = f"$KV.{DEPENDENTS}."
_READ_TIMEOUT_S = 5.0
# The store or NATS failing (a stream electing a leader, say): what is tried again later
STORE_FAILED = (StoreError, nats.errors.Error)
V = TypeVar("V")


class Core:
    """The dispatcher's handles and the commands it carries out; no reactions of its own."""

    def __init__(self, nc: NATS, service: JobService, dependents: KeyValue) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._service = service
        self._store: EventLog = service.store
        self._deps = dependents
        self._batches: dict[str, JobState] = {}  # see Children._roll_up; least recent first
        self._creations: dict[str, JobCreated] = {}  # see `_created`; least recent first
        self._ahead: dict[str, list[str]] = {}  # see `read_ahead`
        self._batched: bool | None = None  # see `_reads_batched`

    def _keep(self, batch: JobState) -> None:
        _kept(self._batches, batch.id, batch, _KEPT_BATCHES)

    def _remember(self, created: JobCreated) -> None:
        """Keep a creation this dispatcher took: the job's end reads it (`_created`)."""
        _kept(self._creations, created.job_id, created, _KEPT_CREATIONS)

    async def _created(self, job_id: str) -> JobCreated | None:
        """The job's creation: kept when this dispatcher took it (a creation never changes;
        most jobs end soon after), else read from the log (one round trip)."""
        created = self._creations.pop(job_id, None)  # its end comes once: no need to keep it
        return created if created is not None else await self._store.created(job_id)

    async def _fail(self, job_id: str, error: str) -> None:
        await self._do(FailJob(**command_envelope(job_id, DISPATCHER), error=error))

    async def _do(self, command: AnyCommand, known: JobState | None = None) -> JobState | None:
        """Carry out `command` (on `known`, see JobService.execute); the job after it, or None
        when `decide` refused it. A store error propagates: the event is nak'ed, and the
        reaction is tried again (a swallowed outage here would leave a batch child uncreated)."""
        try:
            return (await self._service.execute(command, known)).state
        except Refusal as e:  # already done, already exists: the reaction happened before
            log.debug("dispatcher: %s skipped: %s", type(command).__name__, e)
            return None

    async def read_ahead(self, events: Sequence[AnyEvent]) -> None:
        """Read the dependents of every job whose end `events` hold, all at once: one round
        trip for a batch, not one per end in turn (which held the dispatcher to some 400
        ended jobs a second). `_dependents` answers the first read of each from these, until
        `forget_ahead`. Left to be read in order: a job that a creation among `events` may
        give a dependent (it depends on the job), and every job when a retry is among them
        (a retried job may wait for its dependency again). A dependent added elsewhere
        after such a read is released by whoever adds it: it reads the job's end after."""
        if any(isinstance(e, RetryRequested) for e in events):
            return
        waited = {e.depends_on for e in events if isinstance(e, JobCreated)}
        ended = {
            e.job_id for e in events
            if isinstance(e, ENDS) and e.job_id not in waited
        }  # fmt: skip
        if len(ended) < 2:  # one read is as well made in turn
            return
        ids = list(ended)
        try:
            if await self._reads_batched():
                self._ahead = await self._read_all_dependents(ids)
                return
        except STORE_FAILED as e:
            log.debug("dispatcher: reading ahead failed: %s", e)
            return  # each is read in turn, and that read fails or not
        found = await asyncio.gather(*map(self._read_dependents, ids), return_exceptions=True)
        self._ahead = {i: d for i, d in zip(ids, found, strict=True) if isinstance(d, list)}

    async def _reads_batched(self) -> bool:
        """Whether the bucket answers batched direct gets: one server's does
        (`open_dependents`); a replicated one is read key by key from its leader, since a
        direct get may be answered by a replica behind it."""
        if self._batched is None:
            info = await self._js.stream_info(_DEPS_STREAM)
            self._batched = bool(info.config.allow_direct)
        return self._batched

    async def _read_all_dependents(self, ids: list[str]) -> dict[str, list[str]]:
        """Each job's dependents, in one batched direct get of the keys' last values (a
        deleted key, like a missing one, has none)."""
        subjects = [f"{_DEPS_PREFIX}{job_id}" for job_id in ids]
        msgs = await direct_last_for(self._nc, _DEPS_STREAM, subjects, _READ_TIMEOUT_S)
        found: dict[str, list[str]] = {job_id: [] for job_id in ids}
        for msg in msgs:
            if not is_marker(msg):
                key = (msg.headers or {}).get("Nats-Subject", "").removeprefix(_DEPS_PREFIX)
                found[key] = msgspec.json.decode(msg.data or b"[]", type=list[str])
        return found

    def forget_ahead(self) -> None:
        """Drop what `read_ahead` read and was not used: it may be stale by the next batch."""
        self._ahead = {}

    async def _dependents(self, dep_id: str) -> list[str]:
        known = self._ahead.pop(dep_id, None)
        return known if known is not None else await self._read_dependents(dep_id)

    async def _read_dependents(self, dep_id: str) -> list[str]:
        try:
            entry = await self._deps.get(dep_id)
        except nats.js.errors.KeyNotFoundError:
            return []
        return list(msgspec.json.decode(entry.value or b"[]", type=list[str]))

    async def _add_dependent(self, dep_id: str, job_id: str) -> None:
        for _ in range(20):
            try:
                entry = await self._deps.get(dep_id)
            except nats.js.errors.KeyNotFoundError:
                with contextlib.suppress(*CREATE_REFUSED):
                    await self._deps.create(dep_id, msgspec.json.encode([job_id]))
                    return
                continue
            current = msgspec.json.decode(entry.value or b"[]", type=list[str])
            if job_id in current:
                return
            new = msgspec.json.encode([*current, job_id])
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await self._deps.update(dep_id, new, last=entry.revision)
                return


def _kept(cache: dict[str, V], key: str, value: V, most: int) -> None:
    """Put `value` in `cache`, dropping the least recently put entry past `most`."""
    cache[key] = value
    if len(cache) > most:
        del cache[next(iter(cache))]


def releases(dep: JobState, after_finished: bool) -> bool:
    """Whether `dep`, as it is, lets its dependent run: once it succeeded, or (for an
    `after_finished` dependent) once it finished, whatever the outcome, unless deleted."""
    if dep.status == JobStatus.SUCCESS:
        return True
    return after_finished and dep.is_done and not dep.deleted


def dep_error(dep_id: str, dep: JobState | None) -> str:
    if dep is None or dep.deleted:
        return f"dependency {dep_id} does not exist"
    return f"dependency {dep_id} {JobStatus(dep.status).name.lower()}"


async def open_dependents(nc: NATS, replicas: int = 1) -> KeyValue:
    """The bucket; on one server it answers direct gets, which lets the dispatcher read many
    keys in one request."""
    js = nc.jetstream()
    kv = await open_bucket(js, DEPENDENTS, history=1, replicas=replicas)
    await direct_if_single(js, DEPENDENTS)
    return kv
