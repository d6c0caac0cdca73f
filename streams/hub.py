"""The hub: one JetStream subscription per process, fanned out in memory to live readers.

A reader registers *before* it reads its catch-up from the log, so every event is either in
the catch-up or in its queue (or both); readers drop what they have already sent by sequence.
A reader whose queue is full is marked overflowed and woken: it must end its stream, telling
its client where to resume, rather than let memory grow without bound.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from engine.domain.events import AnyEvent, Codec, JobCreated, parse_subject
from engine.jetstream.store import JOBS_STREAM, follow_log
from streams.mailbox import Mailbox

log = logging.getLogger(__name__)

Item = tuple[int, AnyEvent]
OWNERS_CACHED = 100_000


class Reader(Mailbox[Item]):
    """One live reader's bounded queue of `(sequence, event)`, filled by the hub."""

    def __init__(self, owner: str | None, max_pending: int) -> None:
        super().__init__(max_pending)
        self.owner = owner

    def push(self, item: Item) -> None:
        self.put((item,))

    async def next(self, timeout: float | None = None) -> Item | None:
        """The next item; None after `timeout`. SlowReader/HubStopped end the stream."""
        return self.pop() if await self.wait(timeout) else None


class Sink(Protocol):
    """Whatever takes one job's events from the hub: a reader, or a job's shared channel."""

    def push(self, item: Item) -> None: ...

    def close(self) -> None: ...


class Hub:
    """Follows `jobs.>` from the log's tail and hands each decoded event to its readers.

    Sinks attached to a job get that job's events; feed readers get every event of jobs
    whose owner is theirs or unknown (`owner=None`: every job). Owners are learned from the
    `created` events the hub decodes, in a bounded cache: an unknown owner only costs the
    feed a read-model check, which filters by owner anyway.
    """

    def __init__(self, nc: NATS, codec: Codec, *, max_pending: int = 10_000) -> None:
        self._nc = nc
        self._codec = codec
        self.max_pending = max_pending
        self._by_job: dict[str, set[Sink]] = collections.defaultdict(set)
        self._feeds: set[Reader] = set()
        self._owners: dict[str, str] = {}  # insertion order: the oldest go first
        self._sub: Any = None
        self.position = 0  # the last sequence handed out

    async def start(self) -> None:
        js = self._nc.jetstream()
        self.position = int((await js.stream_info(JOBS_STREAM)).state.last_seq)
        self._sub = await follow_log(js, self.position + 1, self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        for reader in [*self._feeds, *(r for rs in self._by_job.values() for r in rs)]:
            reader.close()

    @property
    def reader_count(self) -> int:
        return len(self._feeds) + sum(len(rs) for rs in self._by_job.values())

    def attach(self, job_id: str, sink: Sink) -> None:
        """Hand `sink` every event of `job_id` from now on, until `detach`."""
        self._by_job[job_id].add(sink)

    def detach(self, job_id: str, sink: Sink) -> None:
        sinks = self._by_job.get(job_id)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self._by_job[job_id]

    @contextlib.contextmanager
    def reader(self, *, owner: str | None = None) -> Iterator[Reader]:
        """A feed reader (every job of `owner`) for the duration of the `with` block."""
        r = Reader(owner, self.max_pending)
        self._feeds.add(r)
        try:
            yield r
        finally:
            self._feeds.discard(r)

    async def _on_msg(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if not self._wanted(msg.subject):
            self.position = seq  # nobody listens: a busy crawl costs no decoding here
            return
        try:
            event = self._codec.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("hub: skipping undecodable message %d on %s", seq, msg.subject)
            return
        self.position = seq
        self.dispatch((seq, event))

    def _wanted(self, subject: str) -> bool:
        """Whether an event on `subject` (`jobs.<id>.<kind>`) has anyone to go to."""
        if self._feeds:
            return True
        parsed = parse_subject(subject)
        return parsed is not None and parsed[0] in self._by_job

    def dispatch(self, item: Item) -> None:
        """Hand one event to the readers that want it (in log order: called per message)."""
        event = item[1]
        if isinstance(event, JobCreated):
            self._owners[event.job_id] = event.user_id
            if len(self._owners) > OWNERS_CACHED:
                del self._owners[next(iter(self._owners))]
        for r in self._by_job.get(event.job_id, ()):
            r.push(item)
        if self._feeds:
            owner = self._owners.get(event.job_id)
            for r in self._feeds:
                if r.owner is None or owner is None or r.owner == owner:
                    r.push(item)
