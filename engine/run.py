"""One job's run inside a worker: what the handler records and hears (`RunContext`), and what
every run of a worker shares (`RunDeps`).

Pages, logs, progress and facts go through the run's `Recorder` in the order they are
added (or, in a run that is held, are kept in memory in that order until the worker appends
them together with the run's start and end, or releases them to the recorder); progress is
reported at most every PROGRESS_EVERY_S. A cancel request for the job is
heard from its subject, and also looked for in the log since the start (one appended before
the subscription was made).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from engine.crawl.fetcher import FetchSettings
from engine.crawl.models import PageOutcome
from engine.domain.commands import ExpandJob
from engine.domain.envelope import (
    EventEnvelope,
    command_envelope,
    event_envelope,
    now_ms,
)
from engine.domain.errors import JobConflict
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
from engine.domain.model import JobType
from engine.domain.state import JobState
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.library import LibraryStore
from engine.jetstream.recorder import Recorder
from engine.jetstream.results import ResultStore, result_key
from engine.novels.handlers import NovelDeps
from engine.service import JobService

PROGRESS_EVERY_S = 0.5
# an event of a held run: the event, its message id (None: its event id), its page body
Held = tuple[Event, str | None, tuple[str, bytes] | None]
# kinds of events, appended by others than the run, that change how a running job ends
_DECIDE_THE_END = ("cancel_requested", "deleted", "succeeded", "failed", "canceled",
                   "expanded", "purged")  # fmt: skip
# Job types whose handler resumes from `done_links` (a crawl follows links of pages it has):
# only for these are an earlier attempt's page bodies read back on start.
RESUMES_FROM_LINKS = frozenset({JobType.CRAWL, JobType.SPIDER})


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
    """One job run: records page, log and progress events in order; hears cancel requests.

    `held`: the run's events are kept (`held_events`), not stored, and no cancel is heard,
    until `release`; `job` is then the job as its start will make it, not yet appended.
    """

    def __init__(
        self, deps: RunDeps, job: JobState, session: aiohttp.ClientSession, *, held: bool = False
    ) -> None:
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
        self._held: list[Held] | None = [] if held else None

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

    @property
    def held_events(self) -> list[Held]:
        """The events a held run made so far, in order (empty once released)."""
        return list(self._held or [])

    async def release(self, job: JobState) -> None:
        """Go on as the started run of `job` (as appended, same attempt as the held one):
        hear its cancel requests (`open`), then queue what was held, in order, for storing."""
        self.job = job
        await self.open()
        held, self._held = self._held or [], None
        for event, msg_id, body in held:
            await self._recorder.add(event, msg_id, body=body)

    async def _add(
        self, event: Event, msg_id: str | None = None, body: tuple[str, bytes] | None = None
    ) -> None:
        """Keep the event while held, else queue it for the recorder."""
        if self._held is not None:
            self._held.append((event, msg_id, body))
        else:
            await self._recorder.add(event, msg_id, body=body)

    async def _canceled_since_start(self) -> bool:
        """A cancel appended between the start and the subscription was not heard: look."""
        later = await self._deps.service.store.history(self.job.id, self.job.version + 1)
        return any(isinstance(s.event, CancelRequested) for s in later)

    async def flush(self) -> None:
        """Report the final progress; return once every event of the run is stored."""
        await self._progress(force=True)
        await self._recorder.flush()

    async def as_recorded(self) -> JobState | None:
        """After `flush`: the job as it started, at the version of the run's last stored
        event, when nobody else appended anything that decides how the job ends (a cancel,
        a deletion, an end, an expansion, another attempt's start): then the run's end can
        be decided without reading back its pages (JobService.execute_on). None otherwise,
        or when the run stored nothing."""
        last = self._recorder.last_seq
        if not last or self.should_stop():
            return None
        counts = await self._deps.service.store.kind_counts(self.job.id)
        if any(counts.get(kind, 0) for kind in _DECIDE_THE_END):
            return None
        if counts.get("started", 0) != self.job.attempts:
            return None
        return msgspec.structs.replace(self.job, version=last)

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
        await self._add(event, msg_id, body)

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
        await self._add(event, msg_id, (key, self._deps.results.encode(body)))
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
        await self._add(LogWritten(**self._envelope(), level=level, message=message))

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
        await self._add(event)

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
