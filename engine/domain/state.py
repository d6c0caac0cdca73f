"""The job state machine's fold: pure `evolve` and a one-pass `fold` that must agree with it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from engine.domain.errors import InvalidHistory
from engine.domain.events import (
    AnyEvent,
    ArtifactStored,
    CancelRequested,
    ChaptersListed,
    ChaptersStored,
    ChapterStored,
    ChildFinished,
    Event,
    ImageStored,
    ItemScraped,
    JobCanceled,
    JobCreated,
    JobDeleted,
    JobExpanded,
    JobFailed,
    JobPurged,
    JobStarted,
    JobSucceeded,
    LogWritten,
    NovelParsed,
    PageRecorded,
    ProgressReported,
    RetryRequested,
)
from engine.domain.model import JobStatus

replace = msgspec.structs.replace


class JobState(msgspec.Struct, frozen=True, kw_only=True):
    """A job as its events describe it; `version` is the sequence of the last event folded.

    A purged job is a tombstone: `purged` and `deleted` set, status CANCELED (finished, so
    nothing waits on it), and none of the job's data; later events leave it unchanged.

    An expanded job (`expanded` > 0, the number of children its `expanded` event planned)
    counts like a batch from then on: `done`/`failed` are its children that succeeded or
    not, `total` is `expanded`; `units` is the planned total of the work below it (e.g. a
    FULL_NOVEL's chapters + 1), which the read model sums from its descendants.

    `items` counts a SPIDER job's `item` events (its runs record each (url, index) once).
    """

    id: str
    user_id: str
    type: int
    priority: int
    status: int = JobStatus.PENDING
    params: dict[str, Any] = {}
    title: str = ""
    parent_job_id: str | None = None
    depends_on: str | None = None
    extra: dict[str, Any] = {}
    error: str | None = None
    done: int = 0
    failed: int = 0
    total: int = 1
    skipped: int = 0
    created_at: int = 0
    started_at: int | None = None
    finished_at: int | None = None
    updated_at: int = 0
    cancel_requested: bool = False
    deleted: bool = False
    purged: bool = False
    attempts: int = 0
    version: int = 0
    ok_urls: frozenset[str] = frozenset()
    failed_urls: frozenset[str] = frozenset()
    children: dict[str, int] = {}
    after_finished: bool = False
    expanded: int = 0
    units: int = 0
    items: int = 0

    @property
    def is_done(self) -> bool:
        return self.status >= JobStatus.SUCCESS


def _created(e: JobCreated) -> JobState:
    return JobState(
        id=e.job_id,
        user_id=e.user_id,
        type=e.type,
        priority=e.priority,
        params=e.params,
        title=e.title,
        parent_job_id=e.parent_job_id,
        depends_on=e.depends_on,
        extra=e.extra,
        total=e.total,
        created_at=e.at,
        updated_at=e.at,
        after_finished=e.after_finished,
    )


def _purged(e: JobPurged) -> JobState:
    return JobState(
        id=e.job_id, user_id="", type=0, priority=0, status=JobStatus.CANCELED, total=0,
        created_at=e.at, updated_at=e.at, deleted=True, purged=True,
    )  # fmt: skip


def _ended(s: JobState, e: Event, status: JobStatus, error: str | None = None) -> JobState:
    return replace(s, status=status, error=error, finished_at=e.at, cancel_requested=False)


def _page(s: JobState, e: PageRecorded) -> JobState:
    if e.url in s.ok_urls or (not e.ok and e.url in s.failed_urls):
        return s
    ok, failed = s.ok_urls, s.failed_urls
    if e.ok:
        ok, failed = ok | {e.url}, failed - {e.url}
    else:
        failed = failed | {e.url}
    return replace(s, ok_urls=ok, failed_urls=failed, done=len(ok), failed=len(failed))


def _chapters(s: JobState, e: ChaptersStored) -> JobState:
    """Each chapter's URL is an OK page of the job (see `_page`)."""
    urls = {c.url for c in e.chapters} - s.ok_urls
    if not urls:
        return s
    ok, failed = s.ok_urls | urls, s.failed_urls - urls
    return replace(s, ok_urls=ok, failed_urls=failed, done=len(ok), failed=len(failed))


def _child(s: JobState, e: ChildFinished) -> JobState:
    """Count an ended child; a status that is not an end (PENDING) is a child running again
    (a retry re-runs it): it no longer counts until it ends anew."""
    if s.children.get(e.child_id) == e.status:
        return s
    if e.status < JobStatus.SUCCESS:
        children = {k: v for k, v in s.children.items() if k != e.child_id}
    else:
        children = {**s.children, e.child_id: e.status}
    done = sum(1 for v in children.values() if v == JobStatus.SUCCESS)
    return replace(s, children=children, done=done, failed=len(children) - done)


def _retry(s: JobState) -> JobState:
    children = {k: v for k, v in s.children.items() if v == JobStatus.SUCCESS}
    done = len(children) if s.children else s.done
    return replace(
        s,
        status=JobStatus.PENDING,
        error=None,
        finished_at=None,
        failed_urls=frozenset(),
        children=children,
        done=done,
        failed=0,
    )


def _progress(s: JobState, e: ProgressReported) -> JobState:
    if s.expanded:  # the run before the expansion reports last; children count from then on
        return s
    return replace(s, total=max(e.total, s.done + s.failed), skipped=e.skipped)


def _expanded(s: JobState, e: JobExpanded) -> JobState:
    if s.expanded:  # `decide` expands a job once; a log that holds two keeps the first
        return s
    n = len(e.children)
    return replace(s, expanded=n, units=e.units, total=n, done=0, failed=0, children={})


def _transition(s: JobState, event: AnyEvent) -> JobState:  # noqa: C901 - one case per event kind
    match event:
        case JobStarted(attempt=attempt):
            started = s.started_at if s.started_at is not None else event.at
            return replace(s, status=JobStatus.RUNNING, started_at=started, attempts=attempt)
        case CancelRequested():
            return s if s.is_done else replace(s, cancel_requested=True)
        case JobCanceled():
            return _ended(s, event, JobStatus.CANCELED)
        case JobSucceeded():
            return _ended(s, event, JobStatus.SUCCESS)
        case JobFailed(error=error):
            return _ended(s, event, JobStatus.FAILED, error)
        case JobDeleted():
            return replace(s, deleted=True)
        case PageRecorded():
            return _page(s, event)
        case ChaptersStored():
            return _chapters(s, event)
        case ProgressReported():
            return _progress(s, event)
        case ChildFinished():
            return _child(s, event)
        case RetryRequested():
            return _retry(s)
        case NovelParsed():
            extra = {**s.extra, "novel_id": event.novel_id, "novel_title": event.title}
            return replace(s, title=event.title or s.title, extra=extra)
        case ArtifactStored():
            made = {"artifact_id": event.artifact_id, "format": event.format}
            return replace(s, extra={**s.extra, "novel_id": event.novel_id, **made})
        case JobExpanded():
            return _expanded(s, event)
        case ItemScraped():
            return replace(s, items=s.items + 1)
        case LogWritten() | ChaptersListed() | ChapterStored() | ImageStored():
            return s
        case JobPurged():
            return _purged(event)
        case JobCreated():
            raise InvalidHistory(f"job {s.id} created twice")


def evolve(state: JobState | None, event: AnyEvent) -> JobState:
    """Apply one event. Pure: the input state is never changed.

    A purge tombstone replaces whatever was known (it may be all a rebuilt log holds of the
    job), and a purged job ignores events written after its tombstone.
    """
    if state is not None and event.job_id != state.id:
        raise InvalidHistory(f"event of job {event.job_id} folded into job {state.id}")
    if isinstance(event, JobPurged):
        return _purged(event)
    if state is None:
        if not isinstance(event, JobCreated):
            raise InvalidHistory(f"first event of job {event.job_id} is {type(event).__name__}")
        return _created(event)
    if state.purged:
        return state
    return replace(_transition(state, event), updated_at=max(state.updated_at, event.at))


def fold(history: Iterable[tuple[int, AnyEvent]], state: JobState | None = None) -> JobState | None:
    """Fold `(sequence, event)` pairs onto `state`; sequences must strictly increase.

    Page events are accumulated in mutable sets and frozen once, so long crawls fold in
    linear time; the result equals applying `evolve` event by event (property-tested).
    """
    acc = Accumulator(state)
    for seq, event in history:
        acc.apply(seq, event)
    return acc.state


class Accumulator:
    """`fold` one event at a time: `apply` events in strictly increasing sequence order and
    read `state` whenever; it is `fold` of everything applied so far onto the start state.

    Page events go into mutable sets, frozen into the state only when `state` is read (or a
    non-page event needs it), so a reader that looks once per many pages stays linear.
    """

    def __init__(self, state: JobState | None = None) -> None:
        self._state = state
        self.last_seq = state.version if state else 0
        self._ok: set[str] | None = None
        self._failed: set[str] | None = None
        self._changed = False  # the sets gained or moved a URL since they were last frozen

    @property
    def state(self) -> JobState | None:
        """The folded state, its `version` the sequence of the last event applied."""
        self._freeze()
        if self._state is not None and self._state.version != self.last_seq:
            self._state = replace(self._state, version=self.last_seq)
        return self._state

    def apply(self, seq: int, event: AnyEvent) -> None:
        """Fold one event; InvalidHistory if `seq` does not follow the last one or `evolve`
        rejects the event."""
        if seq <= self.last_seq:
            raise InvalidHistory(f"sequence {seq} after {self.last_seq}")
        self.last_seq = seq
        if isinstance(event, PageRecorded) and self._state is not None and not self._state.purged:
            self._page(self._state, event)
            return
        self._freeze()
        self._ok = self._failed = None  # the event may change the URL sets: copy them afresh
        self._state = evolve(self._state, event)

    def _page(self, s: JobState, e: PageRecorded) -> None:
        if e.job_id != s.id:
            raise InvalidHistory(f"event of job {e.job_id} folded into job {s.id}")
        if self._ok is None or self._failed is None:
            self._ok, self._failed = set(s.ok_urls), set(s.failed_urls)
        if e.url not in self._ok and (e.ok or e.url not in self._failed):
            if e.ok:
                self._ok.add(e.url)
                self._failed.discard(e.url)
            else:
                self._failed.add(e.url)
            self._changed = True
        self._state = replace(s, updated_at=max(s.updated_at, e.at))

    def _freeze(self) -> None:
        # Counters follow the sets only when a page changed them, as in `evolve`: a repeated
        # page leaves counters that child events set untouched.
        if not self._changed or self._state is None or self._ok is None or self._failed is None:
            return
        ok, failed = frozenset(self._ok), frozenset(self._failed)
        self._state = replace(
            self._state, ok_urls=ok, failed_urls=failed, done=len(ok), failed=len(failed)
        )
        self._changed = False


def state_as_of(
    history: Sequence[tuple[int, AnyEvent]], *, seq: int | None = None, at: int | None = None
) -> JobState | None:
    """The job as it was at log sequence `seq`, or at millisecond time `at` (give one).

    By sequence: the fold of every event up to `seq`. By time: the fold of the longest prefix
    of the log whose events are all stamped `at` or earlier. Writers' clocks may disagree a
    little, so a later event can carry an earlier time; stopping at the first event from after
    `at` never shows an event from the future. None when the job did not exist yet.
    """
    if seq is not None and at is None:
        return fold(item for item in history if item[0] <= seq)
    if at is None or seq is not None:
        raise ValueError("give exactly one of seq and at")
    return fold(itertools.takewhile(lambda item: item[1].at <= at, history))
