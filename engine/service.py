"""Carries out commands: load the job, decide, append with optimistic concurrency, retry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypedDict

import msgspec
from ulid import ULID

from engine.commands import AnyCommand, CreateJob
from engine.decide import decide
from engine.errors import ConcurrencyConflict, JobConflict
from engine.state import JobState, fold
from engine.store import EventStore

_MAX_CONFLICTS = 20


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id() -> str:
    return str(ULID())


class Envelope(TypedDict):
    """The fields every command carries; spread it into a command: `CancelJob(**envelope(...))`."""

    command_id: str
    job_id: str
    at: int
    actor: str


def envelope(job_id: str, actor: str) -> Envelope:
    """A fresh command envelope: new ULID, current time."""
    return {"command_id": new_id(), "job_id": job_id, "at": now_ms(), "actor": actor}


class Outcome(msgspec.Struct, frozen=True):
    """The job after a command, and the log sequence that reflects it (0 if nothing changed)."""

    state: JobState | None
    seq: int


class JobService:
    """The write side. Stateless: every command folds the job from the log first."""

    def __init__(self, store: EventStore, *, clock: Callable[[], int] = now_ms) -> None:
        self.store = store
        self.clock = clock

    async def execute(self, command: AnyCommand, known: JobState | None = None) -> Outcome:
        """Decide and append; on a concurrent writer reload and decide again.

        `known` (the job as the caller last loaded it) spares reading the history it holds:
        see `EventStore.load`.
        """
        if isinstance(command, CreateJob):
            return await self._create(command)
        for _ in range(_MAX_CONFLICTS):
            state = await self.store.load(command.job_id, known)
            version = state.version if state is not None else 0
            events = decide(state, command)
            if not events:
                return Outcome(state, version)
            try:
                seq = await self.store.append(events, expected=version)
            except ConcurrencyConflict:
                known = state
                continue
            folded = fold([(version + i + 1, e) for i, e in enumerate(events)], state)
            return Outcome(msgspec.structs.replace(folded, version=seq) if folded else None, seq)
        raise JobConflict(f"job {command.job_id} is changing too fast; try again")

    async def _create(self, command: CreateJob) -> Outcome:
        events = decide(None, command)
        try:
            seq = await self.store.append(events, expected=0)
        except ConcurrencyConflict as e:
            raise JobConflict(f"job {command.job_id} already exists") from e
        return Outcome(fold([(seq, events[0])]), seq)
