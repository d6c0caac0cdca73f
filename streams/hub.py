"""The hub: one JetStream subscription per process, fanned out in memory to live readers.

A reader registers, then waits for `follow()`, *before* it reads its catch-up from the log,
so every event is either in the catch-up or in its queue (or both); readers drop what they
have already sent by sequence. The subscription is held only while there are readers (and
IDLE_S after the last leaves): a process nobody watches live is not sent every event.
A reader whose queue is full is marked overflowed and woken: it must end its stream, telling
its client where to resume, rather than let memory grow without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterator
from functools import partial
from typing import Any, Protocol

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from engine.domain.events import AnyEvent, Codec, JobCreated, parse_subject
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.store import JOBS_STREAM, follow_log
from streams.mailbox import Mailbox

log = logging.getLogger(__name__)

Item = tuple[int, AnyEvent]
OWNERS_CACHED = 100_000
# How long the subscription outlives its last reader: a client that reconnects within it
# (a reloaded dashboard) finds it there. Not on any job's path: only when nobody watches.
IDLE_S = 30.0


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

    A reader, once registered (`attach`, `reader`), awaits `follow()` before it reads the
    log: that starts the subscription, from the log's last sequence on, if none runs.
    """

    def __init__(
        self, nc: NATS, codec: Codec, *, max_pending: int = 10_000, idle_s: float = IDLE_S
    ) -> None:
        self._nc = nc
        self._codec = codec
        self.max_pending = max_pending
        self.idle_s = idle_s
        self._by_job: dict[str, set[Sink]] = collections.defaultdict(set)
        self._feeds: set[Reader] = set()
        self._owners: dict[str, str] = {}  # insertion order: the oldest go first
        self._sub: Any = None
        self._generation = 0  # of the subscription: a stopped one's late messages are dropped
        self._starting = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()  # subscriptions being ended
        self._stopped = False
        self.position = 0  # the last sequence handed out

    @property
    def following(self) -> bool:
        return self._sub is not None

    async def start(self) -> None:
        """Ready to follow the log; the subscription starts with the first reader."""
        self._stopped = False

    async def follow(self) -> int:
        """Make sure the hub follows the log (from its last sequence, when it did not);
        the last sequence handed out. Every later event reaches the registered readers."""
        if self._sub is None:
            async with self._starting:
                if self._sub is None and not self._stopped:
                    await self._subscribe()
        self._idle_check()
        return self.position

    async def _subscribe(self) -> None:
        js = self._nc.jetstream()
        self._generation += 1
        generation = self._generation
        try:
            last = int((await js.stream_info(JOBS_STREAM)).state.last_seq)
            sub = await follow_log(js, last + 1, partial(self._on_msg, generation))
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise StoreUnavailable(f"cannot follow the JOBS stream: {e!r}") from e
        if generation != self._generation:  # stopped meanwhile
            await _unsubscribe(sub)
            return
        self.position, self._sub = last, sub

    async def stop(self) -> None:
        self._stopped = True
        self._cancel_idle()
        await _unsubscribe(self._drop())
        for reader in [*self._feeds, *(r for rs in self._by_job.values() for r in rs)]:
            reader.close()

    def _drop(self) -> Any:
        """The subscription, no longer the hub's: its later messages are dropped, and a
        reader arriving now starts a new one. At once, with no await in between."""
        sub, self._sub = self._sub, None
        self._generation += 1
        return sub

    def _idle_check(self) -> None:
        """Stop following IDLE_S after the last reader left (not while any is there)."""
        if self.reader_count:
            self._cancel_idle()
        elif self._sub is not None and self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(self.idle_s, self._on_idle)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _on_idle(self) -> None:
        self._idle = None
        if not self.reader_count and self._sub is not None:
            task = asyncio.get_running_loop().create_task(_unsubscribe(self._drop()))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @property
    def reader_count(self) -> int:
        return len(self._feeds) + sum(len(rs) for rs in self._by_job.values())

    def attach(self, job_id: str, sink: Sink) -> None:
        """Hand `sink` every event of `job_id` from now on (once `follow()` returned),
        until `detach`."""
        self._by_job[job_id].add(sink)
        self._cancel_idle()

    def detach(self, job_id: str, sink: Sink) -> None:
        sinks = self._by_job.get(job_id)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self._by_job[job_id]
        self._idle_check()

    @contextlib.contextmanager
    def reader(self, *, owner: str | None = None) -> Iterator[Reader]:
        """A feed reader (every job of `owner`) for the duration of the `with` block; it
        awaits `follow()` before reading the log."""
        r = Reader(owner, self.max_pending)
        self._feeds.add(r)
        self._cancel_idle()
        try:
            yield r
        finally:
            self._feeds.discard(r)
            self._idle_check()

    async def _on_msg(self, generation: int, msg: Msg) -> None:
        if generation != self._generation:  # a stopped subscription's last messages
            return
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


async def _unsubscribe(sub: Any) -> None:
    """End a subscription the hub dropped (None: there was none); errors do not matter."""
    if sub is not None:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
