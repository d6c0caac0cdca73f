"""`MemoryEventLog`: the event log in memory, with the JetStream store's semantics.

For running `JobService` without NATS (tests, above all); it imports no NATS, only the store's
error classes, which are plain exceptions. It keeps the contract of `engine.domain.eventlog`:
one sequence across all jobs, the same sequence checks and the same ConcurrencyConflict,
message-id dedupe, all-or-none batches, job ids checked with `job_token`. Events are stored
encoded and decoded on every read, so what comes back is what a JetStream reader would decode.
Not safe across threads; on one event loop no method suspends before it is done, so concurrent
tasks see each append whole, as they would in a stream.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.domain.eventlog import Stored
from engine.domain.events import Codec, Event, JobCreated, kind_of, subject_of
from engine.domain.ids import job_token
from engine.domain.state import JobState, fold
from engine.jetstream.errors import ConcurrencyConflict

_Row = tuple[int, str, bytes]  # sequence, kind, the encoded event


class MemoryEventLog:
    """An `EventLog` held in this process: what was appended, until the object is dropped."""

    def __init__(self, codec: Codec | None = None) -> None:
        self._codec = codec or Codec()
        self._seq = 0  # the last sequence handed out; purges never lower it
        self._jobs: dict[str, list[_Row]] = {}  # job id -> its events in log order
        self._msg_ids: dict[str, int] = {}  # message id -> sequence it was stored at

    @property
    def codec(self) -> Codec:
        return self._codec

    async def append(self, events: Sequence[Event], expected: int | None) -> int:
        """As `EventStore.append`: checked on the first event's job, several all or none."""
        if len(events) > 1:
            return self._append_batch(events, expected)
        (event,) = events
        self._check(subject_of(event), event.job_id, expected)
        return self._store(event, event.event_id)

    async def append_unchecked(self, event: Event, msg_id: str | None = None) -> int:
        subject_of(event)  # the job id is checked before anything is stored
        return self._store(event, msg_id or event.event_id)

    async def history(self, job_id: str, from_seq: int = 1) -> list[Stored]:
        rows = self._jobs.get(job_token(job_id), [])
        return [Stored(s, self._codec.decode(data)) for s, _, data in rows if s >= from_seq]

    async def load(self, job_id: str, known: JobState | None = None) -> JobState | None:
        start = known.version + 1 if known is not None else 1
        return fold(((s.seq, s.event) for s in await self.history(job_id, start)), known)

    async def created(self, job_id: str) -> JobCreated | None:
        for _, kind, data in self._jobs.get(job_token(job_id), []):
            if kind == "created":
                event = self._codec.decode(data)
                return event if isinstance(event, JobCreated) else None
        return None

    async def kind_counts(self, job_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, kind, _ in self._jobs.get(job_token(job_id), []):
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    async def purge(self, job_id: str, before: int | None = None) -> int:
        rows = self._jobs.get(job_token(job_id), [])
        kept = [row for row in rows if before is not None and row[0] >= before]
        self._jobs[job_id] = kept
        return len(rows) - len(kept)

    def _append_batch(self, events: Sequence[Event], expected: int | None) -> int:
        subjects = [subject_of(e) for e in events]  # every job id checked before any is stored
        # the ids JetStream batches carry: a decision made again on a newer job is new
        on = "" if expected is None else f":{expected}"
        ids = [e.event_id + on for e in events]
        if len(set(ids)) < len(ids) or any(i in self._msg_ids for i in ids):
            raise ConcurrencyConflict(subjects[0])
        self._check(subjects[0], events[0].job_id, expected)
        return [self._store(e, i) for e, i in zip(events, ids, strict=True)][-1]

    def _check(self, subject: str, job_id: str, expected: int | None) -> None:
        """ConcurrencyConflict unless the job's last sequence is `expected` (if given)."""
        if expected is not None and self._last_of(job_id) != expected:
            raise ConcurrencyConflict(subject)

    def _last_of(self, job_id: str) -> int:
        rows = self._jobs.get(job_id)
        return rows[-1][0] if rows else 0

    def _store(self, event: Event, msg_id: str) -> int:
        """Store `event` under a new sequence, unless `msg_id` was stored: that sequence then."""
        stored = self._msg_ids.get(msg_id)
        if stored is not None:
            return stored
        self._seq += 1
        row = (self._seq, kind_of(event), self._codec.encode(event))
        self._jobs.setdefault(event.job_id, []).append(row)
        self._msg_ids[msg_id] = self._seq
        return self._seq
