"""What every novel job does with a request and a fact: fetch through the worker's gate
unless the job is asked to stop, turn the answer into the job's `page` event, and give each
fact its deterministic message id (``<job>:<kind>:<item>:<attempt>``); and :func:`each`,
the bounded pool the jobs run their items in."""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from engine.crawl.fetcher import FetchResult
from engine.crawl.models import PageOutcome
from engine.domain.envelope import event_envelope
from engine.novels.errors import NovelError

if TYPE_CHECKING:  # the run's protocol lives with the handlers, which build on this module
    from engine.novels.handlers import NovelRun

T = TypeVar("T")

STOP_POLL_S = 0.1  # how often a run with fetches waiting looks for a stop request


class Stopped(NovelError):
    """The job was asked to stop while waiting on a fetch."""


class _StopWatch:
    """The tasks of one run waiting in :func:`unless_stopped`, and one timer, running while
    any waits, that cancels them all once the run is asked to stop.

    One timer per run, not one wait with a timeout per fetch: a fetch then costs two set
    operations here, and nothing is woken while no fetch waits.
    """

    def __init__(self, run: NovelRun) -> None:
        self._run = weakref.ref(run)  # the watch, kept by the run's weak key, must not keep it
        self.waiting: set[asyncio.Task[Any]] = set()
        self.stopped: set[asyncio.Task[Any]] = set()  # cancelled by this watch
        self._timer: asyncio.TimerHandle | None = None

    def add(self, task: asyncio.Task[Any]) -> None:
        self.waiting.add(task)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(STOP_POLL_S, self._look)

    def discard(self, task: asyncio.Task[Any]) -> None:
        self.waiting.discard(task)
        self.stopped.discard(task)
        if not self.waiting and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _look(self) -> None:
        self._timer = None
        run = self._run()
        if run is not None and run.should_stop():
            for task in self.waiting - self.stopped:
                self.stopped.add(task)
                task.cancel("asked to stop")
        if self.waiting:
            self._timer = asyncio.get_running_loop().call_later(STOP_POLL_S, self._look)


_watches: weakref.WeakKeyDictionary[NovelRun, _StopWatch] = weakref.WeakKeyDictionary()


async def unless_stopped(run: NovelRun, work: Awaitable[T]) -> T:
    """``work``'s result; Stopped (``work`` cancelled) once the job is asked to stop, seen
    within :data:`STOP_POLL_S`. A cancel of the caller from elsewhere stays a cancel."""
    if run.should_stop():
        if inspect.iscoroutine(work):
            work.close()  # never started
        raise Stopped("asked to stop")
    task = asyncio.current_task()
    assert task is not None, "called from a task"
    watch = _watches.get(run)
    if watch is None:
        watch = _watches[run] = _StopWatch(run)
    watch.add(task)
    try:
        result = await work
        if task in watch.stopped:  # cancelled as `work` ended, which swallowed the cancel
            task.uncancel()
            raise Stopped("asked to stop")
        return result
    except asyncio.CancelledError:
        # the watch's own cancel, and no other one pending: the job was asked to stop
        if task in watch.stopped and task.uncancel() == 0:
            raise Stopped("asked to stop") from None
        raise
    finally:
        watch.discard(task)


async def gated_fetch(
    run: NovelRun, url: str, form: Sequence[tuple[str, str]] | None = None,
    headers: Mapping[str, str] | None = None, rank: int = 0,
) -> FetchResult:  # fmt: skip
    """``url`` fetched through the gate (a POST of ``form``, with ``headers``), unless the
    job is asked to stop (Stopped). It waits for its host among the requests of the job's
    family (the job's parent's children, or the job alone) by ``rank`` (a chapter's serial:
    a novel's volumes are fetched in reading order)."""
    order = (run.job.parent_job_id or run.job.id, rank)
    fetching = run.novels.gate.fetch(
        run.session, url, run.fetch_settings, form=form, headers=headers, order=order
    )
    return await unless_stopped(run, fetching)


def outcome(url: str, result: FetchResult, error: str | None = None) -> PageOutcome:
    """The page event of a fetch: OK when 2xx and no ``error``."""
    ok = 200 <= result.status < 300 and error is None
    if not ok and error is None:
        error = f"HTTP {result.status}"
    return PageOutcome(
        url=url, final_url=result.final_url, depth=0, status=result.status, ok=ok,
        error=error, content_type=result.content_type, duration_ms=result.duration_ms,
        bytes=result.bytes, cache_hit=result.cache_hit, truncated=result.truncated,
    )  # fmt: skip


def failure(page: PageOutcome) -> str:
    """A failed page's error, naming its URL."""
    error = page.error or (f"HTTP {page.status}" if page.status else "failed")
    return error if page.url in error else f"{page.url}: {error}"


def msg_id(run: NovelRun, *parts: str) -> str:
    """A fact's message id: the job, the fact's kind and item, the attempt."""
    return ":".join((run.job.id, *parts, str(run.job.attempts)))


def envelope(run: NovelRun) -> dict[str, Any]:
    return dict(event_envelope(run.job.id, run.worker_id))


async def each(items: Sequence[T], slots: int, work: Callable[[T], Awaitable[None]]) -> None:
    """``work`` on every item, ``slots`` at a time; the first error cancels the rest and
    is raised (unwrapped, so a store error still reads as one)."""
    pending = iter(items)

    async def slot() -> None:
        for item in pending:  # one iterator: every item is taken once
            await work(item)

    tasks = [asyncio.create_task(slot()) for _ in range(min(slots, len(items)))]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        errors = [t.exception() for t in done if not t.cancelled()]
        error = next((e for e in errors if e is not None), None)
        if error is not None:
            raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
