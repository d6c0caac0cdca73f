"""The dispatcher's consumer: lifecycle events taken from `JOBS` in batches, reacted to, and
settled each once its reaction is stored.

A batch's creations of plainly runnable jobs (the common case) become work items stored
together, in one atomic batch: one round trip and one disk sync for the lot, not one each,
so the dispatcher keeps up with creates that are themselves appended in batches. Other
events are reacted to one at a time, in log order, after the work items of the creations
before them are stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from engine.dispatcher.core import DISPATCHER, STORE_FAILED, log
from engine.dispatcher.reactions import REACTS_TO, Reactions, carried, plainly_runnable
from engine.domain.errors import Refusal
from engine.domain.events import AnyEvent, JobCreated
from engine.jetstream.acks import fetch_ready, heartbeat, settle
from engine.jetstream.atomic import BatchRefused, Message, publish_atomic
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.provision import answered
from engine.jetstream.store import JOBS_STREAM
from engine.jetstream.work import enqueue, work_message

_RETRY_S = 1.0  # pause after a failed fetch; redelivery delay of a reaction the store refused
_KINDS = tuple(str(t.__struct_config__.tag) for t in REACTS_TO)
# Messages taken per fetch: what is there, up to this many (a burst of creates is taken in a
# few fetches, its work items published together); below the consumer's max_ack_pending.
FETCH_BATCH = 256
_BATCH_TIMEOUT_S = 5.0  # for the answer to a batch of work items
# How long an event delivered and never settled stays with its taker: what a pull answer
# lost with a dying server (a JOBS leader killed) costs. Batches in hand heartbeat.
ACK_WAIT_S = 5.0


def _work_message(msg: Msg, event: JobCreated) -> Message:
    return work_message(event.job_id, event.priority, msg.metadata.sequence.stream, carried(event))


async def _ack_all(msgs: Sequence[Msg]) -> None:
    """Ack `msgs` back to back: no await in between suspends, so nats-py sends them in one
    write rather than one system call each (which cost the dispatcher more than the rest of
    its work on an event)."""
    for msg in msgs:
        await msg.ack()


class Dispatcher(Reactions):
    """Follows lifecycle events on `JOBS` with a durable pull consumer (see `react`)."""

    _task: asyncio.Task[None] | None = None
    _stopping = False

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=DISPATCHER,
            filter_subjects=[f"jobs.*.{k}" for k in _KINDS],
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=1000,
        )
        await answered(lambda: self._js.add_consumer(JOBS_STREAM, config), "the dispatcher")
        sub = await self._js.pull_subscribe_bind(DISPATCHER, JOBS_STREAM)
        self._task = asyncio.create_task(self._run(sub), name="dispatcher")

    async def stop(self) -> None:
        """Stop after the batch in hand. The flag, not only cancel(), ends the loop: a cancel
        can be swallowed inside nats-py's fetch on Python 3.11."""
        self._stopping = True
        task = self._task
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.warning("dispatcher stopped with %r", task.exception())

    async def _run(self, sub: Any) -> None:
        while not self._stopping:
            try:
                msgs = await fetch_ready(sub, FETCH_BATCH, 1.0)
            except nats.errors.Error as e:  # connection trouble: the next fetch may succeed
                log.warning("dispatcher: fetch failed: %s", e)
                await asyncio.sleep(_RETRY_S)
                continue
            if not msgs:
                continue
            beating = asyncio.create_task(heartbeat(msgs, ACK_WAIT_S / 3))
            try:
                await self.handle_batch(msgs)
            except Exception:  # a bug, not an outage: the loop goes on, and what the batch
                # left unsettled comes back after ACK_WAIT_S (a dead loop would stop them all)
                log.exception("dispatcher: a batch of %d events failed", len(msgs))
            finally:
                beating.cancel()

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        """React to `msgs` in log order, each settled once its reaction is stored; nothing
        a message holds stops the loop (see `_handle`)."""
        decoded = [(msg, event) for msg in msgs if (event := await self._decoded(msg)) is not None]
        await self.read_ahead([event for _, event in decoded])
        try:
            await self._react_in_order(decoded)
        finally:
            self.forget_ahead()

    async def _react_in_order(self, decoded: Sequence[tuple[Msg, AnyEvent]]) -> None:
        """Creations of plainly runnable jobs are gathered; any other event is reacted to
        after the work items of the creations before it are stored. Ends that change no
        other job are only acked: between creations and ends of small jobs (a steady flow
        of them) they would otherwise cut the batch's work items into one publish each."""
        runnable: list[tuple[Msg, JobCreated]] = []
        quiet: list[Msg] = []
        for msg, event in decoded:
            if isinstance(event, JobCreated):
                self._remember(event)
            if (created := plainly_runnable(event)) is not None:
                runnable.append((msg, created))
            elif await self.ends_quietly(event):
                quiet.append(msg)
            else:
                await self._enqueue_all(runnable)  # what was created before it runs first
                runnable = []
                await self._handle(msg, event)
        await self._enqueue_all(runnable)
        await settle(_ack_all(quiet), DISPATCHER)

    async def _decoded(self, msg: Msg) -> AnyEvent | None:
        """The message's event; None for one that does not decode, terminated (never again)."""
        try:
            return self._store.codec.decode(msg.data)
        except msgspec.MsgspecError as e:
            log.error("dispatcher: dropped undecodable message on %s: %s", msg.subject, e)
            await settle(msg.term(), DISPATCHER)
            return None

    async def _enqueue_all(self, created: Sequence[tuple[Msg, JobCreated]]) -> None:
        """A work item for each created job, all in one atomic batch (one disk sync); each
        event acked once its item is stored.

        A refused batch (it holds an item stored before: a redelivery) or one whose outcome
        is unknown is published again item by item, pipelined, and each event settled as its
        item's publish went (nak'ed, tried again, when it failed). WORK stores an item once
        however often it is sent (its message id is job and trigger)."""
        if not created:
            return
        if len(created) > 1 and self._nc.is_connected:
            messages = [_work_message(msg, event) for msg, event in created]
            try:
                await publish_atomic(self._nc, messages, _BATCH_TIMEOUT_S)
            except (BatchRefused, StoreUnavailable) as e:
                log.debug("dispatcher: %d work items sent one by one: %s", len(messages), e)
            else:
                await settle(_ack_all([msg for msg, _ in created]), DISPATCHER)
                return
        outcomes = await asyncio.gather(
            *(self._enqueue(msg, event) for msg, event in created), return_exceptions=True
        )
        for (msg, _), outcome in zip(created, outcomes, strict=True):
            await self._settle(msg, outcome if isinstance(outcome, BaseException) else None)

    async def _enqueue(self, msg: Msg, event: JobCreated) -> None:
        await enqueue(
            self._js, event.job_id, event.priority, msg.metadata.sequence.stream, carried(event)
        )

    async def _handle(self, msg: Msg, event: AnyEvent) -> None:
        """React to one event, then settle its message."""
        try:
            await self.react(msg.metadata.sequence.stream, event)
        except Exception as e:  # settled by kind: see `_settle`
            await self._settle(msg, e)
            return
        await self._settle(msg, None)

    async def _settle(self, msg: Msg, error: BaseException | None) -> None:
        """Handled (or refused by `decide`): acked. The store or NATS failing: nak'ed with a
        delay, so the reaction is tried again. Anything else: logged and terminated, so it
        is never delivered again."""
        reply: Awaitable[None]
        if error is None or isinstance(error, Refusal):
            if error is not None:
                log.warning("dispatcher: %s on %s: %s", type(error).__name__, msg.subject, error)
            reply = msg.ack()
        elif isinstance(error, STORE_FAILED):
            kind = type(error).__name__
            log.warning("dispatcher: %s on %s, will retry: %s", kind, msg.subject, error)
            reply = msg.nak(delay=_RETRY_S)
        else:
            log.error("dispatcher: reaction to %s failed; message dropped", msg.subject,
                      exc_info=error)  # fmt: skip
            reply = msg.term()
        await settle(reply, DISPATCHER)
