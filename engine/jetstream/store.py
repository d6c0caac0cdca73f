"""The JetStream event store: stream set-up, conditional appends and one-round-trip loads."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig

from engine.domain.eventlog import Stored as Stored  # re-exported: readers import it here
from engine.domain.events import Codec, Event, JobCreated, subject_of
from engine.domain.ids import job_token
from engine.domain.state import JobState, fold
from engine.jetstream.atomic import BatchRefused, Message, publish_atomic
from engine.jetstream.errors import ConcurrencyConflict, StoreUnavailable
from engine.jetstream.nats_access import NatsAccess, NatsAccessError, connect, parse_access
from engine.jetstream.provision import ensure_stream as ensure_stream  # re-exported

JOBS_STREAM = "JOBS"
WRONG_LAST_SEQUENCE = 10071
DUPLICATE_IN_BATCH = 10201
_BATCH = 1000
# How long a publish whose outcome is unknown is resent before the caller hears of an
# outage (a client retrying then with its Idempotency-Key finds the job if it was stored).
SETTLE_S = 30.0
RECONNECT_POLL_S = 0.05
# Between sends of a message whose first send may be stored while no server takes it (a
# stream electing its leader): its outcome is asked again this often until known.
UNREACHABLE_RETRY_S = 0.1
# nats-py tries a lost server again after this pause (its default, 2 s, would make writes
# wait that long after a restart)
RECONNECT_WAIT_S = 0.25
FOLLOW_HEARTBEAT_S = 0.25
LAST_FOR = 256  # subjects named in one direct get of their last messages
_END_OF_READ = ("404", "204")  # direct get: nothing (more) matches; the batch is complete


def _expecting(event: Event, expected: int | None) -> dict[str, str]:
    """The headers that make an append conditional on the job's last sequence (if given)."""
    if expected is None:
        return {}
    return {
        "Nats-Expected-Last-Subject-Sequence": str(expected),
        "Nats-Expected-Last-Subject-Sequence-Subject": f"jobs.{job_token(event.job_id)}.*",
    }


def jobs_stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=JOBS_STREAM,
        num_replicas=replicas,
        subjects=["jobs.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        allow_direct=True,
        allow_atomic=True,  # worker events go in atomic batches: one disk sync per batch
        duplicate_window=120.0,
    )


async def follow_log(
    js: JetStreamContext, from_seq: int, cb: Callable[[Msg], Awaitable[None]]
) -> JetStreamContext.PushSubscription:
    """Hand `cb` every `JOBS` event from sequence `from_seq` on, in log order, as they come.

    An ordered consumer: nothing to ack; nats-py re-creates it from the next sequence when
    it misses a message or two heartbeats (a server restarted or a new stream leader loses
    the consumer, which lives in memory on one server). Heartbeats every FOLLOW_HEARTBEAT_S
    make that, and each new try while the stream is away, happen within a second.
    """
    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=from_seq)
    return await follow(js, JOBS_STREAM, "jobs.>", config, cb)


async def follow(
    js: JetStreamContext, stream: str, subject: str, config: ConsumerConfig,
    cb: Callable[[Msg], Awaitable[None]],
) -> JetStreamContext.PushSubscription:  # fmt: skip
    """Hand `cb` the messages of `stream` on `subject` from where `config` starts, in order,
    as they come: an ordered consumer that heartbeats every FOLLOW_HEARTBEAT_S, so nats-py
    makes it again within a second after a lost connection or a restarted server."""
    return await js.subscribe(
        subject, stream=stream, ordered_consumer=True, idle_heartbeat=FOLLOW_HEARTBEAT_S,
        cb=cb, config=config,
    )  # fmt: skip


class _OutcomeUnknown(Exception):
    """A publish whose message may or may not have been stored: sent again, same id."""


class _Unreachable(Exception):
    """A publish no server took (no responders, no stream leader): not stored."""


class EventStore:
    """Appends events to `JOBS` and reads a job's history back, in log order."""

    def __init__(
        self, nc: NATS, codec: Codec, *, timeout: float = 5.0, settle_s: float = SETTLE_S
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._codec = codec
        self._timeout = timeout
        self._settle_s = settle_s

    @property
    def codec(self) -> Codec:
        return self._codec

    async def ensure(self, replicas: int = 1) -> None:
        """The JOBS stream, created with `replicas` if missing (an existing one keeps its)."""
        await ensure_stream(self._js, jobs_stream_config(replicas))

    async def append(self, events: Sequence[Event], expected: int | None) -> int:
        """Append `events` in order; with `expected`, only if the job's last sequence is that.

        Returns the sequence of the last event. Raises ConcurrencyConflict when another writer
        got there first. Several events go as one atomic batch: all are stored, or none (a
        command is never half-applied, and a retry decides again from a log that holds none
        of them). Every publish carries `Nats-Msg-Id` = event id, so a retry after a lost
        acknowledgement never stores an event twice.
        """
        if len(events) > 1:
            return await self._append_atomic(events, expected)
        (event,) = events
        headers = {"Nats-Msg-Id": event.event_id, **_expecting(event, expected)}
        return await self._publish(subject_of(event), self._codec.encode(event), headers)

    async def _append_atomic(self, events: Sequence[Event], expected: int | None) -> int:
        # The id names the event *and* the sequence it was decided on: a resend of the same
        # decision is still deduplicated, a decision made again on a newer job gets ids of its
        # own. (A batch its sequence check refused takes none of its ids; docs/decisions.md,
        # "Appends", tells of the id clash once blamed on the server.)
        on = "" if expected is None else f":{expected}"
        messages: list[Message] = []
        for i, event in enumerate(events):
            headers = {"Nats-Msg-Id": event.event_id + on}
            if i == 0:
                headers.update(_expecting(event, expected))
            messages.append((subject_of(event), self._codec.encode(event), headers))
        try:
            return await publish_atomic(self._nc, messages, self._timeout)
        except BatchRefused as e:
            if e.code in (WRONG_LAST_SEQUENCE, DUPLICATE_IN_BATCH):
                # decided again on the reloaded job, the command yields what is still to do
                raise ConcurrencyConflict(subject_of(events[0])) from e
            raise StoreUnavailable(f"append to {subject_of(events[0])} refused: {e}") from e

    async def append_unchecked(self, event: Event, msg_id: str | None = None) -> int:
        """Append one event with no sequence check; `msg_id` (default: event id) dedupes."""
        headers = {"Nats-Msg-Id": msg_id or event.event_id}
        return await self._publish(subject_of(event), self._codec.encode(event), headers)

    async def _publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> int:
        """Publish one message and return its sequence once JetStream acknowledged it.

        Not connected: StoreUnavailable at once, nothing sent (nats-py would buffer it and
        send it on reconnect, storing an event whose writer was told it failed). Once sent,
        an unanswered publish has an unknown outcome: it is sent again with the same
        `Nats-Msg-Id` when the connection is up, until JetStream answers or `settle_s` pass
        (StoreUnavailable then); a resend no server takes (a stream electing its leader)
        leaves it unknown, and is made again every UNREACHABLE_RETRY_S. A resend of a stored
        event is stored at most once: a duplicate by its message id, or, with a sequence
        check, a ConcurrencyConflict (the server checks that first) after which the caller
        decides again on the reloaded job.
        """
        if not self._nc.is_connected:
            raise StoreUnavailable(f"not connected to NATS: {subject} not appended")
        loop = asyncio.get_running_loop()
        end = loop.time() + self._settle_s
        sent = False  # whether a send so far may have been stored
        error: Exception
        while True:
            try:
                return await self._publish_once(subject, payload, headers)
            except _Unreachable as e:  # this send was not stored; an earlier one may be
                if not sent:
                    raise StoreUnavailable(f"no JetStream server stores {subject} now") from e
                error, pause = e, UNREACHABLE_RETRY_S
            except (nats.errors.TimeoutError, _OutcomeUnknown) as e:
                sent, error, pause = True, e, 0.0
            if loop.time() >= end or not await self._connected_by(end):
                raise StoreUnavailable(f"no answer from JetStream for {subject}") from error
            await asyncio.sleep(pause)  # while the stream elects a leader, not on a hot loop

    async def _publish_once(self, subject: str, payload: bytes, headers: dict[str, str]) -> int:
        """One publish: its sequence; nats' TimeoutError or _OutcomeUnknown when its outcome
        is unknown."""
        try:
            ack = await self._js.publish(subject, payload, headers=headers)
        except nats.js.errors.APIError as e:
            if e.err_code == WRONG_LAST_SEQUENCE:
                raise ConcurrencyConflict(subject) from e
            raise StoreUnavailable(f"append to {subject} refused: {e.description}") from e
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError) as e:
            raise _Unreachable(subject) from e
        except nats.errors.TimeoutError:
            raise
        except nats.errors.Error as e:
            # the connection broke under it: the message may have reached a server (and been
            # stored) before it did, so its outcome is unknown, as after a timeout
            raise _OutcomeUnknown(f"{subject}: {e!r}") from e
        return int(ack.seq)

    async def _connected_by(self, end: float) -> bool:
        """Whether the connection is up, waiting for a reconnect until loop time `end`."""
        loop = asyncio.get_running_loop()
        while not self._nc.is_connected:
            if self._nc.is_closed or loop.time() >= end:
                return False
            await asyncio.sleep(RECONNECT_POLL_S)
        return True

    async def history(self, job_id: str, from_seq: int = 1) -> list[Stored]:
        """Every event of the job from `from_seq` on, in log order."""
        out: list[Stored] = []
        seq = from_seq
        while True:
            batch, more = await self._direct_batch(f"jobs.{job_token(job_id)}.>", seq)
            out.extend(batch)
            if not more or not batch:
                return out
            seq = batch[-1].seq + 1

    async def load(self, job_id: str, known: JobState | None = None) -> JobState | None:
        """The job folded from its full history (None when it never existed).

        `known`, the job as an earlier load or command left it (folded up to its `version`),
        is brought up to date instead: only the events after it are read, the result is the same.
        """
        start = known.version + 1 if known is not None else 1
        return fold(((s.seq, s.event) for s in await self.history(job_id, start)), known)

    async def created(self, job_id: str) -> JobCreated | None:
        """The job's `created` event alone (its fixed fields), without reading the rest."""
        batch, _ = await self._direct_batch(f"jobs.{job_token(job_id)}.created", 1)
        first = batch[0].event if batch else None
        return first if isinstance(first, JobCreated) else None

    async def kind_counts(self, job_id: str) -> dict[str, int]:
        """How many events of each kind the job has: the stream's count per subject of the
        job (`jobs.<id>.<kind>`), one request whatever the job's size."""
        prefix = f"jobs.{job_token(job_id)}."
        return await subject_counts(self._js, JOBS_STREAM, prefix, f"job {job_id}'s events")

    async def last_seq(self) -> int:
        try:
            info = await self._js.stream_info(JOBS_STREAM)
        except (nats.errors.TimeoutError, nats.js.errors.Error) as e:
            raise StoreUnavailable("cannot read the JOBS stream state") from e
        return int(info.state.last_seq)

    async def _direct_batch(self, subject: str, seq: int) -> tuple[list[Stored], bool]:
        """Up to _BATCH events of `subject` from `seq`, and whether more may follow."""
        msgs = await direct_batch(self._nc, JOBS_STREAM, subject, seq, self._timeout)
        out = [Stored(sequence_of(m), self._codec.decode(m.data)) for m in msgs]
        return out, len(out) >= _BATCH

    async def purge(self, job_id: str, before: int | None = None) -> int:
        """Erase the job's events from `JOBS` (only those below sequence `before`, if given).

        Returns how many were erased. Other jobs' events and the stream's sequence numbers
        stay as they were.
        """
        subject = f"jobs.{job_token(job_id)}.>"
        return await purge_subject(self._nc, JOBS_STREAM, subject, before, self._timeout)


async def direct_batch(
    nc: NATS, stream: str, subject: str, seq: int, timeout: float, batch: int = _BATCH
) -> list[Msg]:
    """One batched direct get: up to `batch` messages of `subject` from sequence `seq` on,
    in order (none when nothing matches). Each carries `Nats-Sequence` and
    `Nats-Num-Pending` headers.

    Only a 404 (no match) or a 204 (the batch's end) ends the read: any other status (503
    when no server answers for the stream or it has no leader) and a timeout raise
    StoreUnavailable, never "no messages": an outage must not look like an empty log."""
    request = {"seq": seq, "next_by_subj": subject, "batch": batch}
    return await _direct(nc, stream, request, timeout)


async def direct_last_for(
    nc: NATS, stream: str, subjects: Sequence[str], timeout: float
) -> list[Msg]:
    """The last message of each of `subjects` that has one (batched direct gets of at most
    LAST_FOR subjects each; each message carries `Nats-Subject`), as `direct_batch` reads:
    StoreUnavailable, never "no messages", when the stream does not answer."""
    out: list[Msg] = []
    for at in range(0, len(subjects), LAST_FOR):
        part = list(subjects[at : at + LAST_FOR])
        out += await _direct(nc, stream, {"multi_last": part, "batch": len(part)}, timeout)
    return out


async def _direct(nc: NATS, stream: str, body: dict[str, Any], timeout: float) -> list[Msg]:
    request = json.dumps(body).encode()
    inbox = nc.new_inbox()
    try:
        sub = await nc.subscribe(inbox)
    except nats.errors.Error as e:  # the connection is closed or draining
        raise StoreUnavailable(f"direct get from {stream}: {e!r}") from e
    try:
        await nc.publish(f"$JS.API.DIRECT.GET.{stream}", request, reply=inbox)
        out: list[Msg] = []
        while True:
            msg = await sub.next_msg(timeout=timeout)
            status = (msg.headers or {}).get("Status")
            if status in _END_OF_READ:
                return out
            if status is not None:  # 503: no responders, no leader; 408...: no answer
                description = (msg.headers or {}).get("Description", "")
                raise StoreUnavailable(f"direct get from {stream}: {status} {description}")
            out.append(msg)
    except nats.errors.TimeoutError as e:
        raise StoreUnavailable(f"direct get from {stream}: no answer in {timeout}s") from e
    except nats.errors.Error as e:  # the connection is closed or draining
        raise StoreUnavailable(f"direct get from {stream}: {e!r}") from e
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()


async def subject_counts(
    js: JetStreamContext, stream: str, prefix: str, what: str
) -> dict[str, int]:
    """How many messages `stream` holds on each subject `<prefix><token>`, by token: one
    request, whatever their number. StoreUnavailable naming `what` when it is not answered."""
    try:
        info = await js.stream_info(stream, subjects_filter=prefix + "*")
    except (nats.errors.Error, nats.js.errors.Error) as e:
        raise StoreUnavailable(f"cannot count {what}: {e!r}") from e
    subjects = info.state.subjects or {}
    return {subject.removeprefix(prefix): int(n) for subject, n in subjects.items()}


def sequence_of(msg: Msg) -> int:
    """The stream sequence of a message read by direct get."""
    return int((msg.headers or {})["Nats-Sequence"])


async def _wait_for_port(access: NatsAccess, end: float) -> None:
    """Wait until something listens at one of `access`' servers, so start-up does not log
    connection errors."""
    loop = asyncio.get_running_loop()
    while True:
        for host, port in access.addresses:
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                continue
            writer.close()
            await writer.wait_closed()
            return
        if loop.time() > end:
            return  # let the real connect attempt report the failure
        await asyncio.sleep(0.05)


async def wait_for_jetstream(access: NatsAccess | str, deadline_s: float = 20.0) -> NATS:
    """Connect with `access` (or to a URL, credentials in it) and return once JetStream
    answers, retrying until the deadline: StoreUnavailable then. NatsAccessError at once for a
    malformed URL or credentials the server refuses."""
    if isinstance(access, str):
        access = parse_access(access)
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    await _wait_for_port(access, end)
    while True:
        nc = NATS()
        try:
            await connect(
                nc, access, connect_timeout=1, max_reconnect_attempts=-1, allow_reconnect=True,
                reconnect_time_wait=RECONNECT_WAIT_S,
            )  # fmt: skip
            await nc.jetstream().account_info()
            return nc
        except NatsAccessError:
            await nc.close()
            raise
        except (OSError, nats.errors.Error, nats.js.errors.Error) as e:
            await nc.close()
            if loop.time() > end:
                raise StoreUnavailable(f"JetStream at {access.url} did not answer") from e
            await asyncio.sleep(0.1)


async def purge_subject(
    nc: NATS, stream: str, subject: str, before: int | None = None, timeout: float = 5.0
) -> int:
    """Erase `stream`'s messages on `subject` (below sequence `before`, if given); how many."""
    request: dict[str, Any] = {"filter": subject}
    if before is not None:
        request["seq"] = before
    try:
        msg = await nc.request(
            f"$JS.API.STREAM.PURGE.{stream}", json.dumps(request).encode(), timeout=timeout
        )
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as e:
        raise StoreUnavailable(f"no answer from JetStream purging {subject}") from e
    reply = json.loads(msg.data)
    if "error" in reply:
        raise StoreUnavailable(f"purge of {subject} refused: {reply['error'].get('description')}")
    return int(reply.get("purged", 0))
