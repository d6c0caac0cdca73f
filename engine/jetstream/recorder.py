"""A job run's events and page bodies, stored off the fetch path in batches.

A crawl slot hands each page to the recorder and goes on fetching; a flusher task stores
whatever has queued up since its last batch. With `sync_interval: always` JetStream syncs
the disk once per published message, but once per atomic batch (ADR-50; measured with
strace: 500 messages, 500 fsyncs one by one, 40 in ten batches), so a batch is published as
one atomic batch per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence

import msgspec
import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from engine.domain.events import Codec, Event, subject_of
from engine.jetstream.atomic import BatchRefused, Message, publish_atomic
from engine.jetstream.errors import StoreUnavailable

log = logging.getLogger(__name__)

MAX_BATCH = 256  # the server refuses atomic batches of more than 1000 messages
MAX_PENDING = 1024
MAX_PENDING_BYTES = 32 * 1024 * 1024
ACK_TIMEOUT_S = 10.0


class _Entry(msgspec.Struct, frozen=True):
    """One encoded event (and the page body it refers to, if any) waiting to be stored."""

    subject: str
    data: bytes
    msg_id: str
    body: tuple[str, bytes] | None

    @property
    def size(self) -> int:
        return len(self.data) + (len(self.body[1]) if self.body else 0)


class Recorder:
    """Stores events, in the order they are added, and their page bodies, in batches.

    Contract:
    - `add` queues and returns at once; it waits only while MAX_PENDING entries or
      MAX_PENDING_BYTES of them are queued or in flight (back-pressure).
    - A batch is everything queued (up to MAX_BATCH). Its bodies are stored first, as one
      atomic batch per stream (told apart by their subject's first token: `results.` page
      bodies, `library.` chapter bodies), before its events go to JOBS as another, so a
      stored event always has its body. One batch at a time, in order: the job's part of the log
      keeps the order of `add`. A stream that refuses an atomic batch (for instance one
      holding a `Nats-Msg-Id` it already stored) gets the batch's messages one by one,
      where each id is deduplicated on its own: an event sent again is stored once.
    - `flush` returns once everything added before it is stored.
    - The first failed write (an error from JetStream, or no ack within ACK_TIMEOUT_S)
      stops the recorder: that `add` or `flush`, and every later one, raises
      StoreUnavailable. Nothing queued after the failed batch is stored.
    - `close` stops the flusher; what is not stored by then is dropped.
    - `js`, when given, is the JetStream context used for one-by-one publishes (default: a
      new one from `nc`).
    """

    def __init__(
        self, nc: NATS, codec: Codec, *, timeout: float = ACK_TIMEOUT_S,
        js: JetStreamContext | None = None,
    ) -> None:  # fmt: skip
        self._nc = nc
        # share one context when making many recorders: nats-py's first `publish_async` on a
        # context subscribes a reply inbox (and starts a task) that lives as long as the client
        self._js = js if js is not None else nc.jetstream()
        self._codec = codec
        self._timeout = timeout
        self._queue: list[_Entry] = []
        self._unstored_bytes = 0  # queued and in flight
        self._added = 0
        self._stored = 0
        self._error: BaseException | None = None
        self._wake = asyncio.Event()
        self._stored_changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.last_seq = 0  # the highest stream sequence of an event stored (0: none yet)

    async def add(
        self, event: Event, msg_id: str | None = None, body: tuple[str, bytes] | None = None
    ) -> None:
        """Queue `event` (deduplicated by `msg_id`, default its event id) and its body."""
        self._raise_if_failed()
        entry = _Entry(subject_of(event), self._codec.encode(event), msg_id or event.event_id, body)
        if not self._has_room():
            await self._until(self._has_room)
        self._queue.append(entry)
        self._added += 1
        self._unstored_bytes += entry.size
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recorder")
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every entry added so far is stored; StoreUnavailable if one cannot be."""
        added = self._added
        await self._until(lambda: self._stored >= added)

    async def close(self) -> None:
        """Stop the flusher; entries not stored yet are dropped."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._queue.clear()

    def _has_room(self) -> bool:
        unstored = self._added - self._stored
        return unstored < MAX_PENDING and self._unstored_bytes < MAX_PENDING_BYTES

    def _raise_if_failed(self) -> None:
        if isinstance(self._error, StoreUnavailable):
            raise StoreUnavailable(str(self._error)) from self._error
        if self._error is not None:
            raise RuntimeError(f"recorder failed: {self._error!r}") from self._error

    async def _until(self, predicate: Callable[[], bool]) -> None:
        async with self._stored_changed:
            await self._stored_changed.wait_for(lambda: predicate() or self._error is not None)
        self._raise_if_failed()

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    batch = self._queue[:MAX_BATCH]
                    del self._queue[: len(batch)]
                    await self._store(batch)
                    self._unstored_bytes -= sum(entry.size for entry in batch)
                    self._stored += len(batch)
                    await self._notify()
        except Exception as e:  # ends the recorder; add/flush raise it
            self._error = e
            await self._notify()

    async def _notify(self) -> None:
        async with self._stored_changed:
            self._stored_changed.notify_all()

    async def _store(self, batch: Sequence[_Entry]) -> None:
        for bodies in _by_stream(e.body for e in batch if e.body is not None):
            await self._publish_all(bodies)
        events = [(e.subject, e.data, {"Nats-Msg-Id": e.msg_id}) for e in batch]
        self.last_seq = max(self.last_seq, await self._publish_all(events))

    async def _publish_all(self, messages: Sequence[Message]) -> int:
        """Store messages bound for one stream: as an atomic batch, else one by one; the
        highest stream sequence they are stored at."""
        if len(messages) > 1:
            try:
                return await publish_atomic(self._nc, messages, self._timeout)
            except BatchRefused as e:
                log.info("recorder: atomic batch refused (%s); publishing one by one", e)
        return await self._publish_each(messages)

    async def _publish_each(self, messages: Sequence[Message]) -> int:
        """Publish every message at once, then wait for all their acks; the highest sequence
        (a duplicate's is where it was stored the first time)."""
        try:
            acks = [await self._js.publish_async(s, d, headers=h) for s, d, h in messages]
            async with asyncio.timeout(self._timeout):
                results = await asyncio.gather(*acks, return_exceptions=True)
        except TimeoutError as e:
            raise StoreUnavailable(f"no ack from JetStream within {self._timeout}s") from e
        except nats.errors.Error as e:
            raise StoreUnavailable(f"cannot publish to JetStream: {e!r}") from e
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            subject = messages[results.index(failed)][0]
            raise StoreUnavailable(f"JetStream did not store {subject}: {failed!r}") from failed
        return max((int(r.seq) for r in results if not isinstance(r, BaseException)), default=0)


def _by_stream(bodies: Iterable[tuple[str, bytes]]) -> list[list[Message]]:
    """Bodies grouped by their subject's first token (each stream owns one), in order."""
    groups: dict[str, list[Message]] = {}
    for subject, data in bodies:
        groups.setdefault(subject.split(".", 1)[0], []).append((subject, data, None))
    return list(groups.values())
