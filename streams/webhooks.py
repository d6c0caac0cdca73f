"""Webhook delivery: a durable consumer of the log that POSTs matching events, signed.

Every API process runs a `Deliverer`; they share one durable pull consumer (`webhooks`) on
`JOBS`, so each event is in one process's hands at a time. For an event it finds the job's
owner (folded once from the log, then cached), the owner's webhooks whose filter matches,
and makes one attempt per webhook whose last recorded attempt is not final. Then:
- every outcome final: the event is acked;
- some webhook to retry: the event is nak'd with the shortest retry delay, and JetStream
  hands it back (to any process) when that delay is up. No process holds a retrying event
  in memory or sleeps on it, so a dead receiver costs one attempt per retry and blocks no
  one; the consumer's ack_wait only has to cover one attempt (heartbeats cover the rest).
An attempt is recorded (streams/deliveries.py) before the event is acked or nak'd, and read
back before any send, so a redelivered event is never sent again to a webhook whose outcome
is final. The one window left is a crash between a 2xx and its record: that event is sent
again, with the same `webhook-id`, which is what receivers deduplicate on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from engine.domain.events import AnyEvent, JobCreated, kind_of, parse_subject
from engine.jetstream.acks import fetch_ready, heartbeat, settle
from engine.jetstream.errors import StoreError, StoreUnavailable
from engine.jetstream.provision import answered
from engine.jetstream.store import JOBS_STREAM, EventStore
from engine.service import now_ms
from streams.deliveries import Attempt, DeliveryLog, DeliveryOutcome
from streams.errors import StreamsError
from streams.webhook_http import Sent, headers_for, make_session, payload, post
from streams.webhook_store import EVENT_KINDS, EVENT_TYPES, Webhook, WebhookStore

log = logging.getLogger(__name__)

CONSUMER = "webhooks"
# How long an event delivered and never settled stays with its taker (a pull answer lost
# with a dying server costs this); attempts in hand heartbeat.
ACK_WAIT_S = 10.0
MAX_ACK_PENDING = 10_000
_JOBS_CACHED = 10_000
_RETRY_S = 1.0  # before following the subscriptions again after that failed


class DeliverySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Timeouts, retry schedule and concurrency of delivery."""

    timeout_s: float = 10.0
    max_attempts: int = 6
    backoff_s: float = 1.0  # attempt n+1 waits backoff_s * 2**(n-1): 1 s, 2 s, 4 s, ...
    retry_after_cap_s: float = 300.0
    concurrency: int = 32  # events in hand per process, each POSTed to its webhooks at once
    allow_private: bool = False
    drain_s: float = 5.0  # on stop, how long attempts in flight may still finish

    def delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        """Wait before the attempt after `attempt` (1-based): the backoff, or longer when the
        receiver's Retry-After asks for it (up to the cap)."""
        backoff: float = self.backoff_s * 2.0 ** (attempt - 1)
        if retry_after_s is None:
            return backoff
        return max(backoff, min(retry_after_s, self.retry_after_cap_s))


def message_id(event_id: str, webhook_id: str) -> str:
    """The `webhook-id` of an event sent to a webhook: the same on every attempt."""
    digest = hashlib.sha256(f"{event_id}:{webhook_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def consumer_config() -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        filter_subjects=[f"jobs.*.{kind}" for kind in EVENT_KINDS.values()],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,  # a first start does not replay old history
        ack_wait=ACK_WAIT_S,
        max_deliver=-1,  # attempts are bounded per webhook, not per event
        max_ack_pending=MAX_ACK_PENDING,
    )


class Deliverer:
    """Delivers the log's job events to their owners' webhooks."""

    def __init__(
        self, nc: NATS, store: EventStore, webhooks: WebhookStore, deliveries: DeliveryLog,
        settings: DeliverySettings, *, on_attempt: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        """`on_attempt` is told each recorded attempt's outcome (e.g. the process's metrics)."""
        self._nc = nc
        self._on_attempt = on_attempt
        self._store = store
        self._webhooks = webhooks
        self._log = deliveries
        self.settings = settings
        self._jobs: OrderedDict[str, JobCreated] = OrderedDict()
        self._wanted = asyncio.Event()  # set once this process made sure the consumer exists
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False

    async def start(self) -> None:
        """Deliver from now on: at once if the shared consumer exists, else once a webhook
        does (see `_consume`)."""
        self._session = make_session(
            allow_private=self.settings.allow_private, limit=self.settings.concurrency * 4
        )
        self._loop = asyncio.create_task(self._consume(), name="webhooks")

    async def ensure_consumer(self) -> None:
        """Make the shared consumer if it does not exist yet (with its one configuration, so
        any number of processes may), and have this process's deliverer take events from it.
        A new webhook's `from_seq` is read after this: every later event is delivered."""
        js = self._nc.jetstream()
        await answered(lambda: js.add_consumer(JOBS_STREAM, consumer_config()), "webhooks")
        self._wanted.set()

    async def _consume(self) -> None:
        """Until a webhook exists there is no consumer, and events cost delivery nothing (a
        consumer would hand each one here to be acked). The first webhook's creation makes
        it (`ensure_consumer`); every process's deliverer then binds to it, told by
        `WebhookStore.until_any`, or at once when it made it itself."""
        js = self._nc.jetstream()
        while not self._stopping:
            try:
                while not await self._consumer_exists(js):
                    await self._until_wanted()
                    await self.ensure_consumer()
                sub = await js.pull_subscribe_bind(CONSUMER, JOBS_STREAM)
            except (StoreError, nats.errors.Error, nats.js.errors.Error) as e:
                log.warning("webhooks: cannot reach the consumer yet: %r", e)
                await asyncio.sleep(_RETRY_S)
                continue
            await self._run(sub)
            return

    async def _until_wanted(self) -> None:
        """Until some user has a webhook, or this process made sure the consumer exists."""
        followed = asyncio.ensure_future(self._webhooks.until_any())
        made = asyncio.ensure_future(self._wanted.wait())
        try:
            await asyncio.wait({followed, made}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            followed.cancel()
            made.cancel()
        if self._wanted.is_set():
            return
        if followed.cancelled():  # not by this task: a closing connection cancels its calls
            raise StoreUnavailable("following the webhooks bucket was cancelled")
        if (error := followed.exception()) is not None:
            raise error

    async def _consumer_exists(self, js: JetStreamContext) -> bool:
        try:
            await answered(lambda: js.consumer_info(JOBS_STREAM, CONSUMER), "webhooks")
        except nats.js.errors.NotFoundError:
            return False
        return True

    async def stop(self) -> None:
        """Take no more events; let attempts in flight finish for up to `drain_s`, then
        cancel them (their events are nak'd, so another process takes them at once)."""
        self._stopping = True
        task = self._loop
        while task is not None and not task.done():
            task.cancel()  # the flag ends the loop too: nats-py's fetch may swallow a cancel
            await asyncio.wait({task}, timeout=0.5)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.drain_s)
        for pending in list(self._tasks):
            pending.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._session is not None:
            await self._session.close()

    async def _run(self, sub: Any) -> None:
        while not self._stopping:
            free = self.settings.concurrency - len(self._tasks)
            if free <= 0:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                msgs = await fetch_ready(sub, free, 1.0)
            except (nats.errors.Error, nats.js.errors.Error) as e:  # e.g. reconnecting
                log.warning("webhooks: fetch failed: %s", e)
                await asyncio.sleep(1.0)
                continue
            for msg, hooks in await self._triage(msgs):
                task = asyncio.create_task(self._handle(msg, hooks))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _triage(self, msgs: list[Msg]) -> list[tuple[Msg, list[Webhook] | None]]:
        """The fetched events some webhook may want, each with its job's owner's webhooks;
        the others are acked here and now.

        Reads each owner's webhooks once per fetched batch instead of once per event (a
        crawl's page events come by the hundred, and most owners have no webhook for them),
        and after the fetch, so no staler than a read per event would be. When a read
        fails, every event goes on to `_handle` without webhooks (None): it reads them
        itself, and retries.
        """
        targets = [_target(msg.subject) for msg in msgs]
        try:
            hooks = await self._hooks_of({job_id for job_id, _ in targets if job_id})
        except Exception as e:  # whatever it is, _handle meets it again and settles each event
            log.warning("webhooks: reading subscriptions failed: %r", e)
            return [(msg, None) for msg in msgs]
        wanted: list[tuple[Msg, list[Webhook] | None]] = []
        for msg, (job_id, event_type) in zip(msgs, targets, strict=True):
            mine = hooks.get(job_id, []) if event_type else []  # no job: nobody to tell
            if any(event_type in h.events for h in mine):
                wanted.append((msg, mine))
            else:
                with contextlib.suppress(nats.errors.Error):  # unacked: triaged again later
                    await msg.ack()
        return wanted

    async def _hooks_of(self, job_ids: set[str]) -> dict[str, list[Webhook]]:
        """Each job's owner's webhooks (none for a job the log no longer has)."""
        ids = list(job_ids)
        jobs = await asyncio.gather(*(self._job(job_id) for job_id in ids))
        owners = list({job.user_id for job in jobs if job is not None})
        lists = await asyncio.gather(*(self._webhooks.of_user(user) for user in owners))
        by_owner = dict(zip(owners, lists, strict=True))
        pairs = zip(ids, jobs, strict=True)
        return {job_id: by_owner[job.user_id] for job_id, job in pairs if job is not None}

    async def _handle(self, msg: Msg, hooks: list[Webhook] | None) -> None:
        """Deliver one event (to `hooks`, see `deliver`), then ack it or hand it back for the
        next retry."""
        try:
            event = self._store.codec.decode(msg.data)
        except msgspec.DecodeError:
            log.error("webhooks: undecodable event on %s; skipped", msg.subject)
            await settle(msg.term(), CONSUMER)
            return
        beating = asyncio.create_task(heartbeat(msg, ACK_WAIT_S / 3))
        try:
            wait = await self.deliver(msg.metadata.sequence.stream, event, hooks)
        except (StreamsError, StoreError) as e:
            log.warning("webhooks: %s on %s: %s", type(e).__name__, msg.subject, e)
            wait = self.settings.backoff_s
        except Exception:  # a bug must not stop delivery: this event comes back later
            log.exception("webhooks: delivering %s failed", msg.subject)
            wait = ACK_WAIT_S
        except asyncio.CancelledError:
            await settle(msg.nak(), CONSUMER)
            raise
        finally:
            beating.cancel()
        # a lost ack or nak is logged: the event comes back, and delivery is idempotent
        await settle(msg.ack() if wait is None else msg.nak(delay=wait), CONSUMER)

    async def deliver(
        self, seq: int, event: AnyEvent, hooks: list[Webhook] | None = None
    ) -> float | None:
        """Attempt `event` (JOBS sequence `seq`) on each matching webhook not yet settled.

        Returns None when every matching webhook has a final outcome, else the seconds until
        the earliest retry is due. Idempotent: calling it again sends nothing to a webhook
        whose outcome is final, and nothing before a retry is due. `hooks`, when given, are
        the webhooks of the job's owner as just read; else they are read here.
        """
        event_type = EVENT_TYPES.get(kind_of(event))
        job = await self._job(event.job_id) if event_type else None
        if event_type is None or job is None:
            return None
        if hooks is None:
            hooks = await self._webhooks.of_user(job.user_id)
        matching = [h for h in hooks if event_type in h.events and seq > h.from_seq]
        if not matching:
            return None
        body = payload(event, job)
        waits = await asyncio.gather(*(self._deliver_to(h, seq, event, body) for h in matching))
        due = [w for w in waits if w is not None]
        return min(due) if due else None

    async def _deliver_to(
        self, hook: Webhook, seq: int, event: AnyEvent, body: bytes
    ) -> float | None:
        msg_id = message_id(event.event_id, hook.id)
        last = await self._log.last(hook.id, msg_id)
        if last is not None and last.outcome != DeliveryOutcome.RETRYING:
            return None
        if last is not None and last.next_attempt_at is not None:
            early_ms = last.next_attempt_at - now_ms()
            if early_ms > 0:  # handed back early for another webhook's retry
                return early_ms / 1000
        number = last.attempt + 1 if last is not None else 1
        attempt = await self._attempt(hook, msg_id, number, seq, event, body)
        await self._log.record(attempt)
        if self._on_attempt is not None:
            self._on_attempt(attempt.outcome.value)
        if attempt.next_attempt_at is None:
            return None
        return max(0.0, (attempt.next_attempt_at - now_ms()) / 1000)

    async def _attempt(
        self, hook: Webhook, msg_id: str, number: int, seq: int, event: AnyEvent, body: bytes
    ) -> Attempt:
        assert self._session is not None, "start() first"
        at = now_ms()
        sent = await post(
            self._session, hook.url, body, headers_for(hook.secret, msg_id, body),
            timeout_s=self.settings.timeout_s, allow_private=self.settings.allow_private,
        )  # fmt: skip
        outcome, error, next_at = self._judge(sent, number, at)
        return Attempt(
            webhook_id=hook.id, message_id=msg_id, event_type=EVENT_TYPES[kind_of(event)],
            job_id=event.job_id, event_seq=seq, attempt=number, at=at,
            status_code=sent.status_code, error=error, duration_ms=sent.duration_ms,
            outcome=outcome, next_attempt_at=next_at,
        )  # fmt: skip

    def _judge(
        self, sent: Sent, number: int, at: int
    ) -> tuple[DeliveryOutcome, str | None, int | None]:
        """The attempt's outcome, error text and, when retrying, the ms time of the next."""
        if sent.delivered:
            return DeliveryOutcome.DELIVERED, None, None
        if not sent.retryable:
            return DeliveryOutcome.FAILED, sent.error, None
        if number >= self.settings.max_attempts:
            return DeliveryOutcome.FAILED, f"gave up after {number} attempts: {sent.error}", None
        delay_ms = round(self.settings.delay_s(number, sent.retry_after_s) * 1000)
        return DeliveryOutcome.RETRYING, sent.error, at + sent.duration_ms + delay_ms

    async def _job(self, job_id: str) -> JobCreated | None:
        """The job as created (owner, type, title): one read of its `created` event, cached."""
        job = self._jobs.get(job_id)
        if job is None:
            job = await self._store.created(job_id)
            if job is None:
                return None
            self._jobs[job_id] = job
            if len(self._jobs) > _JOBS_CACHED:
                self._jobs.popitem(last=False)
        self._jobs.move_to_end(job_id)
        return job


def _target(subject: str) -> tuple[str, str | None]:
    """The job id and webhook event type of a `jobs.<job id>.<kind>` subject."""
    parsed = parse_subject(subject)
    return ("", None) if parsed is None else (parsed[0], EVENT_TYPES.get(parsed[1]))
