"""The event log the write side depends on: a protocol, and the record it reads back.

`engine.jetstream.store.EventStore` implements it over the `JOBS` stream, and
`engine.memory_log.MemoryEventLog` in memory, so the service's logic runs without NATS. Both
keep one contract (tests/contract/test_event_log.py runs it on each):

- Sequences number every event of every job, strictly increasing in append order; a job's
  history is its events in that order. A purge leaves the numbers of what remains as they were.
- `append(events, expected)` with `expected` stores nothing unless the job's last sequence (0
  for a job with no events) is `expected`: ConcurrencyConflict otherwise.
- One event: an id already stored is not stored again; the append answers the stored event's
  sequence (the sequence check, if any, comes first). JetStream remembers ids for its duplicate
  window (2 minutes), the memory log for ever. `append_unchecked` dedupes the same way on
  `msg_id` (default: the event id).
- Several events: stored together or not at all. A batch dedupes as a whole: holding an id
  already stored (or one id twice), it is refused with ConcurrencyConflict (the ids are the
  event ids, suffixed `:<expected>` when a sequence is expected, so one decision made again on
  a newer job is new). A refused batch takes none of its ids.
- A purge erases events, not the ids remembered: an id stored before it still dedupes.
- Every job id is checked with `engine.domain.ids.job_token` first: InvalidId, nothing read or
  stored, for anything but a job id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from engine.domain.events import AnyEvent, Codec, Event, JobCreated
from engine.domain.state import JobState


class Stored(msgspec.Struct, frozen=True):
    """An event as the log holds it: stream sequence first."""

    seq: int
    event: AnyEvent


class EventLog(Protocol):
    """Appends events and reads a job's history back, in log order (see the module's contract)."""

    @property
    def codec(self) -> Codec:
        """The codec events are stored with (readers of raw log messages decode with it)."""
        ...

    async def append(self, events: Sequence[Event], expected: int | None) -> int:
        """Append `events` (at least one) in order, all or none; with `expected`, only if the
        job of the first is at that sequence. The sequence of the last event."""
        ...

    async def append_unchecked(self, event: Event, msg_id: str | None = None) -> int:
        """Append one event with no sequence check; `msg_id` (default: event id) dedupes."""
        ...

    async def history(self, job_id: str, from_seq: int = 1) -> list[Stored]:
        """Every event of the job from sequence `from_seq` on, in log order."""
        ...

    async def load(self, job_id: str, known: JobState | None = None) -> JobState | None:
        """The job folded from its history (None when it never existed); `known`, the job
        folded up to its `version`, is brought up to date instead, with the same result."""
        ...

    async def created(self, job_id: str) -> JobCreated | None:
        """The job's `created` event alone, or None."""
        ...

    async def kind_counts(self, job_id: str) -> dict[str, int]:
        """How many events of each kind the job has (`{"page": 120, ...}`), without reading
        them."""
        ...

    async def purge(self, job_id: str, before: int | None = None) -> int:
        """Erase the job's events (only those below sequence `before`, if given); how many."""
        ...
