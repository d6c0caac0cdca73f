"""Carries out commands: load the job, decide, append with optimistic concurrency, retry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import msgspec

from engine.domain.commands import AnyCommand, CreateJob
from engine.domain.decide import decide

# the ids and times of envelopes (engine/domain/envelope.py), also imported from here
from engine.domain.envelope import new_id as new_id
from engine.domain.envelope import now_ms as now_ms
from engine.domain.errors import JobConflict, Refusal
from engine.domain.eventlog import EventLog
from engine.domain.events import AnyEvent, JobCreated
from engine.domain.state import JobState, fold
from engine.jetstream.errors import ConcurrencyConflict

_MAX_CONFLICTS = 20

# told of every append: the job before it (None for a create) and the events appended
Observer = Callable[[JobState | None, Sequence[AnyEvent]], None]
# appends a new job's created event (its sequence), ConcurrencyConflict if the job exists:
# e.g. engine/jetstream/group_commit.py, which appends concurrent creates together
CreateAppender = Callable[[JobCreated], Awaitable[int]]
# appends events if the job's last sequence is the one given (EventLog.append's contract)
Appender = Callable[[Sequence[AnyEvent], int], Awaitable[int]]


class CommandOutcome(msgspec.Struct, frozen=True):
    """The job after a command, and the log sequence that reflects it (0 if nothing changed)."""

    state: JobState | None
    seq: int


class JobService:
    """The write side. Stateless: every command folds the job from the log first (or is
    decided on the state its caller passes, which the append then proves current)."""

    def __init__(
        self, store: EventLog, *, clock: Callable[[], int] = now_ms,
        observe: Observer | None = None, creates: CreateAppender | None = None,
    ) -> None:  # fmt: skip
        """`creates` appends creations instead of `store.append` (same contract)."""
        self.store = store
        self.clock = clock
        self._observe = observe  # e.g. the process's metrics (engine/metrics.py)
        self._creates = creates

    async def execute(self, command: AnyCommand, known: JobState | None = None) -> CommandOutcome:
        """Decide and append; on a concurrent writer reload and decide again.

        `known` (the job as the caller last loaded it) spares reads: the command is decided on
        it and appended only if the log holds nothing newer, which the append's sequence check
        proves. When that append conflicts, or `known` refuses the command or yields nothing,
        the job is brought up to date from `known` (see `EventLog.load`) and decided again,
        so the outcome is the same as with a fresh load.
        """
        if isinstance(command, CreateJob):
            return await self._create(command)
        if known is not None:
            outcome = await self._on_known(command, known)
            if outcome is not None:
                return outcome
        return await self._on_loaded(command, known)

    async def execute_on(self, command: AnyCommand, current: JobState) -> CommandOutcome:
        """Decide on `current` and append if the log's last event of the job is at its
        version; else as `execute` with a full load.

        `current` need only be right in what decides the command: a worker ending a run
        passes the job as it started, at the sequence of the run's last recorded event,
        having checked that nobody else appended anything that decides how a job ends (see
        RunContext.as_recorded); its own pages, items, logs and progress decide nothing. The
        outcome's state is `current`'s, not a fold of the log.
        """
        outcome = await self._on_known(command, current)
        return outcome if outcome is not None else await self._on_loaded(command, None)

    async def append_decided(
        self, state: JobState, events: Sequence[AnyEvent], append: Appender | None = None
    ) -> CommandOutcome:
        """Append `events` that the caller decided on `state` (several commands' events, e.g.
        a run's start, pages and end), all or none, only if the job's last event is still at
        `state.version`: ConcurrencyConflict otherwise, and nothing is stored. `append` (same
        contract as `store.append`, e.g. one that gathers several jobs' appends) makes the
        append instead of the store."""
        seq = await (append or self.store.append)(events, state.version)
        return self._appended(state, events, seq)

    async def _on_known(self, command: AnyCommand, known: JobState) -> CommandOutcome | None:
        """`command` carried out on `known` as it is; None unless that changed the job."""
        try:
            events = decide(known, command)
        except Refusal:  # a stale `known` may refuse what the current job allows
            return None
        if not events:
            return None
        try:
            seq = await self.store.append(events, expected=known.version)
        except ConcurrencyConflict:  # `known` is stale
            return None
        return self._appended(known, events, seq)

    async def _on_loaded(self, command: AnyCommand, known: JobState | None) -> CommandOutcome:
        """Load (from `known` on), decide, append; again after each concurrent writer."""
        for _ in range(_MAX_CONFLICTS):
            state = await self.store.load(command.job_id, known)
            events = decide(state, command)
            if not events:
                return CommandOutcome(state, _version(state))
            try:
                seq = await self.store.append(events, expected=_version(state))
            except ConcurrencyConflict:
                known = state
                continue
            return self._appended(state, events, seq)
        raise JobConflict(f"job {command.job_id} is changing too fast; try again")

    async def _create(self, command: CreateJob) -> CommandOutcome:
        events = decide(None, command)
        try:
            seq = await self._append_created(events)
        except ConcurrencyConflict as e:
            raise JobConflict(f"job {command.job_id} already exists") from e
        if self._observe is not None:
            self._observe(None, events)
        return CommandOutcome(fold([(seq, events[0])]), seq)

    async def _append_created(self, events: Sequence[AnyEvent]) -> int:
        first = events[0]
        if self._creates is not None and len(events) == 1 and isinstance(first, JobCreated):
            return await self._creates(first)
        return await self.store.append(events, expected=0)

    def _appended(
        self, state: JobState | None, events: Sequence[AnyEvent], seq: int
    ) -> CommandOutcome:
        if self._observe is not None:
            self._observe(state, events)
        return _outcome(state, events, seq)


def _version(state: JobState | None) -> int:
    return state.version if state is not None else 0


def _outcome(state: JobState | None, events: Sequence[AnyEvent], seq: int) -> CommandOutcome:
    """The job after `events`, appended on `state` with the last at sequence `seq`."""
    version = _version(state)
    folded = fold([(version + i + 1, e) for i, e in enumerate(events)], state)
    return CommandOutcome(msgspec.structs.replace(folded, version=seq) if folded else None, seq)
