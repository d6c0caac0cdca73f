"""Workers: take work items (high before normal before low), run the job, ack at the end.

A work item is acknowledged only after the job's terminal event is stored; the final
append and the ack are shielded from cancellation. A worker that dies mid-job leaves the
item unacknowledged: it is redelivered after the consumers' ack_wait and the next worker
resumes from what the log holds; a live worker reports progress every third of ack_wait. A
job whose workers keep dying fails after `max_attempts` deliveries.

Pages, logs and progress go through a `Recorder`, off the fetch path; the terminal event is
appended only once the recorder has stored everything before it.

A one-URL SCRAPE found pending runs held (engine/held.py): done in time, its end is
written beside the slots, which go on taking items; the item is acked once it is stored.

A store outage (NATS or JetStream failing) is not the job's fault: the worker keeps the
item, waits, reloads the job from the log and resumes the same attempt; if it is stopped
meanwhile the item is left unacknowledged and redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import aiohttp
import msgspec
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from engine.crawl.fetcher import FetchSettings, make_session
from engine.domain.commands import StartJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, new_id
from engine.domain.errors import InvalidHistory, JobConflict, JobNotFound, Refusal
from engine.domain.events import AnyEvent
from engine.domain.model import JobStatus
from engine.domain.state import JobState
from engine.ending import STORE_ERRORS, discard, fail, finish, handle
from engine.handlers import RunOutcome
from engine.held import FUSE_WITHIN_S, Body, HeldWrites, as_created, folded, fusable
from engine.jetstream.acks import heartbeat, settle
from engine.jetstream.errors import ConcurrencyConflict, StoreError, StoreUnavailable
from engine.jetstream.library import LibraryStore
from engine.jetstream.pickup import Lanes
from engine.jetstream.recorder import Recorder
from engine.jetstream.results import ResultStore
from engine.jetstream.work import WorkItem, work_ack_wait
from engine.novels.handlers import NovelDeps
from engine.purge import purge_results
from engine.run import RunContext, RunDeps
from engine.service import JobService

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 5
# Jobs one worker runs at once (a crawl's or a scrape batch's requests in flight are its own
# `concurrency`); measured when batches were one-URL children (docs/decisions.md), 16 beat 4,
# 32 and 64.
CONCURRENCY = 16
# Held runs' ends (engine/held.py) being written at once, per slot. An end is two group
# commits, each waiting for the batch on its way: 10 to 25 ms on a loaded two-core machine.
# With one per slot, bench/jobs.py's slots waited for room 44% of their time (queued first:
# 640-660 jobs/s); with four, under 1% (735-830 jobs/s).
TAILS_PER_SLOT = 4
# After a store outage: first wait before asking again, doubled up to the second. Short: a
# restarted server or a new stream leader answers within seconds, and a worker that waits
# longer than that is idle for nothing.
STORE_RETRY_S = (0.25, 2.0)
# An idle slot wakes when a work item is published, and polls every lane at least every
# IDLE_S anyway (redelivered items come without a publish); in burst mode (tests) a worker
# ends after BURST_WAIT_S without work.
IDLE_S = 1.0
BURST_WAIT_S = 0.2


class Worker:
    """`concurrency` jobs at a time; `burst` returns once the queue is empty (for tests)."""

    def __init__(
        self, nc: NATS, service: JobService, results: ResultStore, fetch_settings: FetchSettings,
        *, concurrency: int = CONCURRENCY, burst: bool = False, worker_id: str | None = None,
        max_attempts: int = MAX_ATTEMPTS, idle_s: float = IDLE_S, novels: NovelDeps | None = None,
    ) -> None:  # fmt: skip
        self._nc = nc
        self._js = nc.jetstream()
        self.service = service
        self.results = results
        self.fetch_settings = fetch_settings
        self.concurrency = concurrency
        self.burst = burst
        self.max_attempts = max_attempts
        self._heartbeat_s = 10.0
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{new_id()[-6:]}"
        # one JetStream context for every run's recorder (see Recorder's `js`)
        recorder = partial(Recorder, nc, service.store.codec, js=self._js)
        self._run_deps = RunDeps(
            nc=nc, service=service, results=results, fetch_settings=fetch_settings,
            worker_id=self.worker_id, recorder=recorder, artifact_builds=asyncio.Semaphore(1),
            novels=novels or NovelDeps(),
        )  # fmt: skip
        self._stopping = asyncio.Event()
        self.lanes = Lanes(nc, slots=concurrency, idle_s=idle_s)
        # held runs' ends are written beside the slots, at most TAILS_PER_SLOT each at once
        self._held = HeldWrites(nc, service, results, self.worker_id)
        self._tails: set[asyncio.Task[None]] = set()
        self._tail_room = asyncio.Semaphore(concurrency * TAILS_PER_SLOT)

    async def run(self) -> None:
        """Process work until `drain()` is called (or, in burst mode, until none is left)."""
        self._heartbeat_s = await work_ack_wait(self._js) / 3
        library = await LibraryStore.open(self._nc)
        self._run_deps = msgspec.structs.replace(self._run_deps, library=library)
        await self.lanes.open()
        try:
            async with make_session(self.fetch_settings) as session:
                await asyncio.gather(*(self._slot(session) for _ in range(self.concurrency)))
                while self._tails:  # held runs' ends still being written
                    await asyncio.gather(*self._tails, return_exceptions=True)
        finally:
            await self.lanes.close()

    def drain(self) -> None:
        """Stop taking new work; jobs in hand finish (or stop at a cancel) and are acked."""
        self._stopping.set()
        self.lanes.interrupt()

    async def _slot(self, session: aiohttp.ClientSession) -> None:
        while not self._stopping.is_set():
            msg = await self._next()
            if msg is None:
                if self.burst:
                    return
                continue
            await self._process(msg, session)

    async def _next(self) -> Msg | None:
        """The next item by priority, waiting up to `idle_s` (burst: BURST_WAIT_S) for one;
        None when there is none or the worker is draining."""
        wait = BURST_WAIT_S if self.burst else self.lanes.idle_s
        try:
            msg = await self.lanes.take(everything=self.burst)
            if msg is None:
                await self.lanes.wait(wait)
                if self._stopping.is_set():
                    return None
                msg = await self.lanes.take(everything=self.burst)
        except nats.errors.Error as e:  # NATS unreachable: wait a little, then ask again
            log.warning("worker %s: cannot fetch work: %s", self.worker_id, e)
            await self._stopped_within(wait)
            return None
        return msg

    async def _process(self, msg: Msg, session: aiohttp.ClientSession) -> None:
        try:
            item = msgspec.json.decode(msg.data, type=WorkItem)
        except msgspec.MsgspecError as e:
            log.error("worker %s: dropped an undecodable work item: %s", self.worker_id, e)
            await settle(msg.term(), f"worker {self.worker_id}")
            return
        beating = asyncio.create_task(heartbeat(msg, self._heartbeat_s))
        try:
            tail = await self._run_item(item, msg, session)
        except BaseException as e:
            beating.cancel()
            if isinstance(e, StoreError | Refusal | InvalidHistory):
                log.warning("worker %s: job %s: %s", self.worker_id, item.job_id, e)
                return  # not acked: redelivered after ack_wait
            raise
        if tail is None:
            beating.cancel()
            await settle(msg.ack(), f"worker {self.worker_id}")  # if lost, found finished
            return
        try:
            await self._tail_room.acquire()
        except asyncio.CancelledError:  # stopped: the item comes back after ack_wait
            beating.cancel()
            discard(tail)
            raise
        task = asyncio.create_task(self._after(tail, item.job_id, msg, beating))
        self._tails.add(task)
        task.add_done_callback(self._tails.discard)

    async def _after(
        self, tail: Awaitable[None], job_id: str, msg: Msg, beating: asyncio.Task[None]
    ) -> None:
        """Write a held run's end while its slot takes the next item; then ack the item
        (not acked when the store refused: redelivered after ack_wait, found finished)."""
        try:
            await tail
        except (StoreError, Refusal, InvalidHistory) as e:
            log.warning("worker %s: job %s: %s", self.worker_id, job_id, e)
            return
        except Exception:  # a bug: logged here, where the slot would have raised it
            log.exception("worker %s: job %s: writing its end failed", self.worker_id, job_id)
            return
        finally:
            beating.cancel()
            self._tail_room.release()
        await settle(msg.ack(), f"worker {self.worker_id}")

    async def _run_item(
        self, item: WorkItem, msg: Msg, session: aiohttp.ClientSession
    ) -> Awaitable[None] | None:
        """Run the item's job; what is left to do (a held run's end to write) or None."""
        deliveries = msg.metadata.num_delivered or 1
        if deliveries > self.max_attempts:
            error = f"gave up after {self.max_attempts} attempts: workers died"
            await fail(self.service, self.worker_id, item.job_id, error)
            return None
        created = as_created(item, deliveries)  # a fresh item: the job as created, not read
        state = created or await self._patiently(
            item.job_id, partial(self.service.store.load, item.job_id)
        )
        if state is None or state.is_done or state.deleted or state.expanded:
            return None  # an expanded job's item is done: its children carry the work
        if state.status == JobStatus.RUNNING and deliveries == 1:
            return None  # a duplicate item for a job another worker is running
        if fusable(state):
            return await self._run_held(state, session, read=created is None)
        await self._start_and_run(state, session)
        return None

    async def _start_and_run(self, state: JobState, session: aiohttp.ClientSession) -> None:
        start = self._start_command(state.id)
        try:
            started = await self._patiently(
                state.id, lambda: self.service.execute(start, known=state)
            )
        except (JobConflict, JobNotFound):
            return
        if started.state is None or started.state.is_done:
            return
        await self._run_through_outages(started.state, session)

    def _start_command(self, job_id: str) -> StartJob:
        return StartJob(**command_envelope(job_id, self.worker_id), worker_id=self.worker_id)

    async def _run_held(
        self, state: JobState, session: aiohttp.ClientSession, *, read: bool = True
    ) -> Awaitable[None] | None:
        """Run the pending job held (see the module's docstring): when it is done in time,
        the writing of its end, for the caller to await; else None once it has ended.
        `read`: `state` was read from the log, not only made from the item's creation."""
        start = self._start_command(state.id)
        started = decide(state, start)
        ctx = RunContext(self._run_deps, folded(state, started), session, held=True)
        task = asyncio.ensure_future(handle(ctx))
        try:
            done, _ = await asyncio.wait({task}, timeout=FUSE_WITHIN_S)
            if not done:
                await self._go_live(state, start, ctx, task, session, read=read)
                return None
            bodies, events = self._held.plan(state, started, ctx, task.result())
            return self._write_held(state, bodies, events, session)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            await ctx.close()

    async def _write_held(
        self, state: JobState, bodies: list[Body], events: list[AnyEvent],
        session: aiohttp.ClientSession,
    ) -> None:  # fmt: skip
        """Store a held run's writes; when the job changed meanwhile, or the outcome is
        unknown, decide the job again from the log."""
        try:
            await self._held.store(state, bodies, events)
            return
        except ConcurrencyConflict:
            pass
        except STORE_ERRORS as e:
            log.warning("worker %s: job %s: %s", self.worker_id, state.id, e)
            if await self._stopped_within(STORE_RETRY_S[0]):
                raise StoreUnavailable(f"stopped in an outage (job {state.id})") from e
        await self._decide_again(state.id, session)

    async def _decide_again(self, job_id: str, session: aiohttp.ClientSession) -> None:
        """After a held run's append failed: the job as the log holds it now, run as usual if
        it is still pending (its fetch is done again), left alone otherwise."""
        state = await self._patiently(job_id, partial(self.service.store.load, job_id))
        if state is not None and state.status == JobStatus.PENDING and not state.deleted:
            await self._start_and_run(state, session)
        elif state is None or state.purged:  # purged while held: its body must not outlive it
            await self._patiently(job_id, partial(purge_results, self._nc, job_id))

    async def _go_live(
        self, state: JobState, start: StartJob, ctx: RunContext,
        task: asyncio.Future[RunOutcome], session: aiohttp.ClientSession, *, read: bool,
    ) -> None:  # fmt: skip
        """The held run takes long: append its start now and let it go on recording. A job
        not `read` is read first: when anything was written since its creation (a duplicate
        item's job may be running elsewhere), the run is dropped and the job decided again."""
        if not read and not await self._unchanged(state):
            task.cancel()
            await asyncio.wait({task})
            await self._decide_again(state.id, session)
            return
        try:
            out = await self._patiently(state.id, lambda: self.service.execute(start, known=state))
        except (JobConflict, JobNotFound):
            return  # e.g. canceled while pending: the task is cancelled by the caller
        job = out.state
        if job is None or job.is_done:
            return
        if job.attempts != ctx.job.attempts:  # started by another worker meanwhile
            await self._run_through_outages(job, session)
            return
        try:
            await ctx.release(job)
            outcome = await task
            await ctx.flush()
            recorded = await ctx.as_recorded()
            await asyncio.shield(finish(self.service, self.worker_id, job.id, outcome, recorded))
        except STORE_ERRORS as e:
            log.warning("worker %s: job %s: store unavailable: %s", self.worker_id, job.id, e)
            if await self._stopped_within(STORE_RETRY_S[0]):
                raise StoreUnavailable(f"stopped in an outage (job {job.id})") from e
            resumed = await self._reload(job)
            if resumed is not None:
                await self._run_through_outages(resumed, session)

    async def _unchanged(self, state: JobState) -> bool:
        now = await self._patiently(state.id, partial(self.service.store.load, state.id))
        return now is not None and now.version == state.version

    async def _patiently(self, job_id: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`'s answer, asked again after each store outage (pauses from
        STORE_RETRY_S[0] doubling up to STORE_RETRY_S[1]) while the item is kept in hand.
        Raises StoreUnavailable when the worker is stopped during an outage."""
        delay, longest = STORE_RETRY_S
        while True:
            try:
                return await call()
            except STORE_ERRORS as e:
                log.warning(
                    "worker %s: job %s: store unavailable, asking again in %.2f s: %s",
                    self.worker_id, job_id, delay, e,
                )  # fmt: skip
            if await self._stopped_within(delay):
                raise StoreUnavailable(f"stopped while the store was unavailable (job {job_id})")
            delay = min(2 * delay, longest)

    async def _run_through_outages(self, job: JobState, session: aiohttp.ClientSession) -> None:
        """Run a started job up to its terminal event, resuming it after store outages.

        On a store error the job is reloaded from the log after a pause and run again as
        the same attempt (page message ids stay the same, so nothing is stored twice).
        Raises StoreUnavailable when the worker is stopped during an outage.
        """
        delay, longest = STORE_RETRY_S
        while True:
            try:
                outcome, recorded = await self._run_job(job, session)
                await asyncio.shield(
                    finish(self.service, self.worker_id, job.id, outcome, recorded)
                )
                return
            except STORE_ERRORS as e:
                log.warning(
                    "worker %s: job %s: store unavailable, resuming in %.1f s: %s",
                    self.worker_id, job.id, delay, e,
                )  # fmt: skip
            if await self._stopped_within(delay):
                raise StoreUnavailable(f"stopped while the store was unavailable (job {job.id})")
            delay = min(2 * delay, longest)
            resumed = await self._reload(job)
            if resumed is None:
                return
            job = resumed

    async def _reload(self, job: JobState) -> JobState | None:
        """The job as the log holds it now, or None when this attempt is no longer running."""
        with contextlib.suppress(*STORE_ERRORS):
            state = await self.service.store.load(job.id)
            if state is None or state.is_done or state.deleted or state.attempts != job.attempts:
                return None
            return state
        return job  # the store is still away: try the same run again after the next pause

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _run_job(
        self, job: JobState, session: aiohttp.ClientSession
    ) -> tuple[RunOutcome, JobState | None]:
        """Run the job's handler; its outcome once every event it made is stored, and the
        job as recorded when nobody else changed how it ends (RunContext.as_recorded)."""
        ctx = RunContext(self._run_deps, job, session)
        try:
            await ctx.open()
            outcome = await handle(ctx)
            await ctx.flush()
            return outcome, None if outcome.handed_off else await ctx.as_recorded()
        finally:
            await ctx.close()
