"""Workers: take work items (high before normal before low), run the job, ack at the end.

A work item is acknowledged only after the job's terminal event is stored; the final
append and the ack are shielded from cancellation. A worker that dies mid-job leaves the
item unacknowledged: it is redelivered after the consumers' ack_wait and the next worker
resumes from what the log holds; a live worker reports progress every third of ack_wait. A
job whose workers keep dying fails after `max_attempts` deliveries.

Pages, logs and progress go through a `Recorder`, off the fetch path; the terminal event is
appended only once the recorder has stored everything before it. A store outage (NATS or
JetStream failing) is not the job's fault: the worker keeps the item, waits, reloads the
job from the log and resumes the same attempt; if it is stopped meanwhile the item is left
unacknowledged and redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

import aiohttp
import msgspec
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from engine.crawl.fetcher import FetchSettings, make_session
from engine.crawl.models import PageOutcome
from engine.domain.commands import ExpandJob, FailJob, FinishJob, StartJob
from engine.domain.envelope import (
    EventEnvelope,
    command_envelope,
    event_envelope,
    new_id,
    now_ms,
)
from engine.domain.errors import InvalidHistory, JobConflict, JobNotFound, Refusal
from engine.domain.eventlog import Stored
from engine.domain.events import (
    CancelRequested,
    ChildSpec,
    Event,
    LogWritten,
    PageRecorded,
    ProgressReported,
)
from engine.domain.ids import job_token
from engine.domain.model import JobStatus, JobType
from engine.domain.state import JobState
from engine.handlers import RunOutcome, handler_for
from engine.jetstream.acks import heartbeat, settle
from engine.jetstream.errors import StoreError, StoreUnavailable
from engine.jetstream.library import LibraryStore
from engine.jetstream.pickup import Lanes
from engine.jetstream.recorder import Recorder
from engine.jetstream.results import ResultStore, result_key
from engine.jetstream.work import WorkItem, work_ack_wait
from engine.novels.handlers import NovelDeps
from engine.service import JobService

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Jobs one worker runs at once (a crawl's requests in flight are its own `concurrency`). A
# batch's children are one-URL jobs, so this is also how many of them fetch in parallel;
# measured on a 200-URL scrape batch (docs/decisions.md), 16 beat 4, 32 and 64.
CONCURRENCY = 16
PROGRESS_EVERY_S = 0.5
# After a store outage: first wait before resuming the job, doubled up to the second.
STORE_RETRY_S = (0.5, 15.0)
# Errors that mean the store, not the job, failed: the job is resumed, never failed for them.
STORE_ERRORS = (StoreUnavailable, nats.errors.Error)
# An idle slot wakes when a work item is published, and polls every lane at least every
# IDLE_S anyway (redelivered items come without a publish); in burst mode (tests) a worker
# ends after BURST_WAIT_S without work.
IDLE_S = 1.0
BURST_WAIT_S = 0.2
# Job types whose handler resumes from `done_links` (a crawl follows links of pages it has):
# only for these are an earlier attempt's page bodies read back on start.
RESUMES_FROM_LINKS = frozenset({JobType.CRAWL})


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

    async def run(self) -> None:
        """Process work until `drain()` is called (or, in burst mode, until none is left)."""
        self._heartbeat_s = await work_ack_wait(self._js) / 3
        library = await LibraryStore.open(self._nc)
        self._run_deps = msgspec.structs.replace(self._run_deps, library=library)
        await self.lanes.open()
        try:
            async with make_session(self.fetch_settings) as session:
                await asyncio.gather(*(self._slot(session) for _ in range(self.concurrency)))
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
            await self._run_item(item, msg, session)
        except (StoreError, Refusal, InvalidHistory) as e:
            log.warning("worker %s: job %s: %s", self.worker_id, item.job_id, e)
            return  # not acked: redelivered after ack_wait
        finally:
            beating.cancel()
        await settle(msg.ack(), f"worker {self.worker_id}")  # if lost, the job is found finished

    async def _run_item(self, item: WorkItem, msg: Msg, session: aiohttp.ClientSession) -> None:
        deliveries = msg.metadata.num_delivered or 1
        if deliveries > self.max_attempts:
            error = f"gave up after {self.max_attempts} attempts: workers died"
            await self._fail(item.job_id, error)
            return
        state = await self.service.store.load(item.job_id)
        if state is None or state.is_done or state.deleted or state.expanded:
            return  # an expanded job's item is done: its children carry the work
        if state.status == JobStatus.RUNNING and deliveries == 1:
            return  # a duplicate item for a job another worker is running
        start = StartJob(**command_envelope(item.job_id, self.worker_id), worker_id=self.worker_id)
        try:
            started = await self.service.execute(start, known=state)
        except (JobConflict, JobNotFound):
            return
        if started.state is None or started.state.is_done:
            return
        await self._run_through_outages(started.state, session)

    async def _run_through_outages(self, job: JobState, session: aiohttp.ClientSession) -> None:
        """Run a started job up to its terminal event, resuming it after store outages.

        On a store error the job is reloaded from the log after a pause and run again as
        the same attempt (page message ids stay the same, so nothing is stored twice).
        Raises StoreUnavailable when the worker is stopped during an outage.
        """
        delay, longest = STORE_RETRY_S
        while True:
            try:
                outcome = await self._run_job(job, session)
                await asyncio.shield(self._finish(job.id, outcome))
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

    async def _run_job(self, job: JobState, session: aiohttp.ClientSession) -> RunOutcome:
        """Run the job's handler; its outcome once every event it made is stored."""
        ctx = RunContext(self._run_deps, job, session)
        try:
            await ctx.open()
            outcome = await self._handle(ctx)
            await ctx.flush()
            return outcome
        finally:
            await ctx.close()

    async def _handle(self, ctx: RunContext) -> RunOutcome:
        try:
            return await handler_for(ctx.job.type)(ctx)
        except STORE_ERRORS:
            raise
        except Exception as e:  # a handler bug must end the job, not the worker
            log.exception("job %s crashed", ctx.job.id)
            return RunOutcome(False, f"internal error: {type(e).__name__}: {e}")

    async def _finish(self, job_id: str, outcome: RunOutcome) -> None:
        if outcome.handed_off:  # expanded: the dispatcher ends the job after its children
            return
        with contextlib.suppress(JobConflict):
            env = command_envelope(job_id, self.worker_id)
            cmd = FinishJob(**env, ok=outcome.ok, error=outcome.error)
            await self.service.execute(cmd)

    async def _fail(self, job_id: str, error: str) -> None:
        with contextlib.suppress(JobConflict, JobNotFound):
            env = command_envelope(job_id, self.worker_id)
            await self.service.execute(FailJob(**env, error=error))


class RunDeps(msgspec.Struct, frozen=True, kw_only=True):
    """What every run of one worker shares, handed to each RunContext.

    `nc` hears the job's cancel requests; `service.store` reads the job's events since its
    start; `results` encodes page bodies and reads those of an earlier attempt; `recorder`
    makes a run's Recorder; `fetch_settings` go to the handler; `worker_id` is the actor of
    the run's events; `library` (opened when the worker runs) holds novels' content;
    `artifact_builds` lets one e-book build run at a time; `novels` are the sources and the
    per-host gate of novel jobs (shared by the workers of a process).
    """

    nc: NATS
    service: JobService
    results: ResultStore
    fetch_settings: FetchSettings
    worker_id: str
    recorder: Callable[[], Recorder]
    artifact_builds: asyncio.Semaphore
    library: LibraryStore | None = None
    novels: NovelDeps = msgspec.field(default_factory=NovelDeps)


class RunContext:
    """One job run: records page, log and progress events in order; hears cancel requests."""

    def __init__(self, deps: RunDeps, job: JobState, session: aiohttp.ClientSession) -> None:
        self._deps = deps
        self.job = job
        self.session = session
        self.fetch_settings = deps.fetch_settings
        self.ok_urls: set[str] = set(job.ok_urls)
        self.failed_urls: set[str] = set(job.failed_urls)
        self.done_links: dict[str, list[str]] = {}
        self.skipped_count = job.skipped
        self.planned_total = 0
        self._recorder = deps.recorder()
        self._cancel = asyncio.Event()
        self._sub: Any = None
        self._last_progress = 0.0

    async def open(self) -> None:
        async def heard(_: Msg) -> None:
            self._cancel.set()

        self._sub = await self._deps.nc.subscribe(
            f"jobs.{job_token(self.job.id)}.cancel_requested", cb=heard
        )
        if self.job.cancel_requested or await self._canceled_since_start():
            self._cancel.set()
        if self.job.type in RESUMES_FROM_LINKS:
            await self._load_links()

    async def _canceled_since_start(self) -> bool:
        """A cancel appended between the start and the subscription was not heard: look."""
        later = await self._deps.service.store.history(self.job.id, self.job.version + 1)
        return any(isinstance(s.event, CancelRequested) for s in later)

    async def flush(self) -> None:
        """Report the final progress; return once every event of the run is stored."""
        await self._progress(force=True)
        await self._recorder.flush()

    async def close(self) -> None:
        """Stop listening and recording; events not flushed by now are dropped."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        await self._recorder.close()

    def should_stop(self) -> bool:
        return self._cancel.is_set()

    @property
    def worker_id(self) -> str:
        return self._deps.worker_id

    @property
    def library(self) -> LibraryStore:
        if self._deps.library is None:
            raise StoreUnavailable("the library is opened when the worker runs")
        return self._deps.library

    @property
    def artifact_builds(self) -> asyncio.Semaphore:
        return self._deps.artifact_builds

    @property
    def novels(self) -> NovelDeps:
        return self._deps.novels

    async def history(self, job_id: str) -> list[Stored]:
        """Every event of job `job_id` (any job, e.g. the one whose facts this run reads)."""
        return await self._deps.service.store.history(job_id)

    async def record(
        self, event: Event, msg_id: str, body: tuple[str, bytes] | None = None
    ) -> None:
        """Queue a fact of this run, in order with its pages and logs, stored once per
        `msg_id` (make it name the job, the item and the attempt); `body` (subject, data),
        if given, is stored before the fact (see Recorder)."""
        await self._recorder.add(event, msg_id, body=body)

    async def expand(self, children: list[ChildSpec], units: int) -> bool:
        """Hand the job over to `children` (see ExpandJob) once every event of the run so far
        is stored; then return RunOutcome(handed_off=True). True when the job is expanded, by
        this call or an earlier attempt; False when it may not be (a cancel was asked for)."""
        await self.flush()
        env = command_envelope(self.job.id, self._deps.worker_id)
        try:
            await self._deps.service.execute(ExpandJob(**env, children=children, units=units))
        except JobConflict:
            state = await self._deps.service.store.load(self.job.id)
            return state is not None and state.expanded > 0
        return True

    async def page(self, page: PageOutcome) -> None:
        """Queue the page: its body for RESULTS, then its event, exactly once (see Recorder).

        The event's message id is (job, URL, attempt): a page sent twice within an attempt
        is stored once, and a resumed attempt skips the pages the log already holds.
        """
        body = msgspec.to_builtins(page)
        key = result_key(self.job.id, page.url)
        meta = {k: v for k, v in body.items() if k not in ("markdown", "html", "text", "links")}
        meta["links"] = len(page.links)
        meta["scraped_at"] = now_ms()
        event = PageRecorded(
            **self._envelope(), url=page.url, ok=page.ok, status=page.status or 0, error=page.error,
            attempt=self.job.attempts, meta=meta, result_key=key,
        )  # fmt: skip
        msg_id = f"{self.job.id}:{key}:{self.job.attempts}"
        await self._recorder.add(event, msg_id, body=(key, self._deps.results.encode(body)))
        (self.ok_urls if page.ok else self.failed_urls).add(page.url)
        if page.ok:
            self.failed_urls.discard(page.url)
        await self._progress()

    def planned(self, total: int) -> None:
        """The handler's total so far (a crawl's discovered URLs), for progress."""
        self.planned_total = total

    async def skipped(self, url: str, reason: str) -> None:
        self.skipped_count += 1
        await self._progress()

    async def log(self, level: str, message: str) -> None:
        await self._recorder.add(LogWritten(**self._envelope(), level=level, message=message))

    async def _progress(self, force: bool = False) -> None:
        now = asyncio.get_running_loop().time()
        if not force and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        done, failed = len(self.ok_urls), len(self.failed_urls)
        event = ProgressReported(
            **self._envelope(), done=done, failed=failed, skipped=self.skipped_count,
            total=max(self.job.total, done + failed, self.planned_total),
        )  # fmt: skip
        await self._recorder.add(event)

    async def _load_links(self) -> None:
        """Links of pages recorded by an earlier attempt, so a resumed crawl goes on past them."""
        if not self.ok_urls:
            return
        for url in self.ok_urls:
            body = await self._deps.results.get(result_key(self.job.id, url))
            if body is not None:
                self.done_links[url] = list(body.get("links") or [])

    def _envelope(self) -> EventEnvelope:
        """A new event's envelope: this job, by this worker."""
        return event_envelope(self.job.id, self._deps.worker_id)
