"""The dispatcher's reactions to lifecycle events: what a created, ended, canceled, retried
or expanded job makes runnable. Each is idempotent, so a redelivered event changes nothing."""

from __future__ import annotations

from engine.dispatcher.children import Children
from engine.dispatcher.core import ENDS, STORE_FAILED, dep_error, releases
from engine.domain.batches import EXPANDING_TYPES, is_parent
from engine.domain.events import (
    AnyEvent,
    CancelRequested,
    JobCanceled,
    JobCreated,
    JobExpanded,
    JobFailed,
    JobSucceeded,
    RetryRequested,
)
from engine.domain.model import BATCH_TYPES, JobStatus, JobType
from engine.domain.state import JobState
from engine.jetstream.work import enqueue

# the events `react` handles; their tags (the subjects' last token) filter the consumer
REACTS_TO = (
    JobCreated, JobSucceeded, JobFailed, JobCanceled, CancelRequested, RetryRequested, JobExpanded,
)  # fmt: skip


def plainly_runnable(event: AnyEvent) -> JobCreated | None:
    """`event` when it is the creation of a job runnable at once with no history read (no
    dependency, not a batch): the common case, whose reaction is one work item."""
    if isinstance(event, JobCreated) and event.depends_on is None:
        return event if event.type not in BATCH_TYPES else None
    return None


def carried(event: JobCreated) -> JobCreated | None:
    """The creation a plainly runnable job's work item carries: a SCRAPE's, which a worker
    may run held straight from it (engine/held.py `as_created`); None for other types,
    whose workers read the job back anyway."""
    return event if event.type == JobType.SCRAPE else None


class Reactions(Children):
    """Makes jobs runnable: dependencies, batch and expansion children, roll-ups, cancel
    cascades."""

    async def react(self, seq: int, event: AnyEvent) -> None:
        match event:
            case JobCreated():
                await self._on_created(seq, event)
            case JobSucceeded() | JobFailed() | JobCanceled():
                await self._on_ended(event)
            case CancelRequested():
                await self._cascade_cancel(event.job_id)
            case RetryRequested():
                await self._on_retry(seq, event.job_id)
            case JobExpanded():
                await self._on_expanded(event)

    async def _on_created(self, seq: int, event: JobCreated) -> None:
        if plainly_runnable(event) is not None:
            # the common case needs no history: the created event says all we need
            await enqueue(self._js, event.job_id, event.priority, seq, carried(event))
            return
        if event.depends_on is None:
            await self._runnable(seq, event.job_id)
            return
        dep = await self._store.load(event.depends_on)
        if dep is not None and releases(dep, event.after_finished):
            await self._runnable(seq, event.job_id)
        elif dep is None or dep.is_done:
            await self._fail(event.job_id, dep_error(event.depends_on, dep))
        else:
            await self._add_dependent(event.depends_on, event.job_id)
            dep = await self._store.load(event.depends_on)  # it may have ended meanwhile
            if dep is not None and dep.is_done:
                await self._release_dependents(dep)

    async def _runnable(self, seq: int, job_id: str, loaded: JobState | None = None) -> None:
        """Enqueue the job, or spawn a batch's children; `loaded`: the job just loaded."""
        job = loaded if loaded is not None else await self._store.load(job_id)
        if job is None or job.is_done or job.deleted:
            return
        if job.type in BATCH_TYPES:
            await self._spawn(job)
        else:
            await enqueue(self._js, job.id, job.priority, seq)

    async def _on_ended(self, event: AnyEvent) -> None:
        """Roll an ended job up into its batch, cascade a batch's cancel, settle dependents.

        Most jobs have none of these: their created event and the dependents bucket say so,
        and a crawl's history (thousands of page events) is then not read at all.
        """
        created = await self._created(event.job_id)
        if created is not None and not await self._acts_at_end(created):
            return
        job = await self._store.load(event.job_id)
        if job is None:
            return
        if job.parent_job_id is not None:
            await self._roll_up(job)
        if is_parent(job) and job.status == JobStatus.CANCELED:
            await self._cascade_cancel(job.id)
        await self._release_dependents(job)

    async def ends_quietly(self, event: AnyEvent) -> bool:
        """Whether `event` is the end of a job whose end changes no other (no parent, no
        children, no dependents), known without reading the log: its reaction is nothing, so
        it need not wait for the work items of creations before it. False when unsure."""
        if not isinstance(event, ENDS):
            return False
        created = self._creations.get(event.job_id)
        if created is None or _in_family(created):
            return False
        try:
            dependents = await self._dependents(event.job_id)
        except STORE_FAILED:  # unsure: its reaction reads them again, and retries if that fails
            return False
        if dependents:
            self._ahead[event.job_id] = dependents  # what its reaction reads first
            return False
        del self._creations[event.job_id]  # as `_created` would: its end comes once
        return True

    async def _acts_at_end(self, created: JobCreated) -> bool:
        """Whether the end of this job changes another: a parent, children or dependents."""
        return _in_family(created) or bool(await self._dependents(created.job_id))

    async def _on_retry(self, seq: int, job_id: str) -> None:
        """Queue a retried job again: a parent retries its children that did not succeed
        and re-runs those that ran after one of them (`_reruns`); a job whose dependency is
        being redone waits for it again."""
        job = await self._store.load(job_id)
        if job is not None and is_parent(job):
            await self._retry_children(job)
        elif job is None or job.depends_on is None or not await self._waits_again(job):
            await self._runnable(seq, job_id, job)

    async def _waits_again(self, job: JobState) -> bool:
        """Whether the retried `job` waits for its dependency, being redone: it is released
        when the dependency ends again."""
        assert job.depends_on is not None
        dep = await self._store.load(job.depends_on)
        if dep is None or dep.is_done:
            return False
        await self._add_dependent(dep.id, job.id)
        dep = await self._store.load(dep.id, dep)  # it may have ended meanwhile
        return dep is not None and not dep.is_done

    async def _release_dependents(self, dep: JobState) -> None:
        for job_id in await self._dependents(dep.id):
            state = await self._store.load(job_id)
            if state is not None and releases(dep, state.after_finished):
                await self._runnable(state.version, job_id, state)
            elif state is not None:
                await self._fail(job_id, dep_error(dep.id, dep))


def _in_family(created: JobCreated) -> bool:
    """Whether the job has a parent or children (its end rolls up or cascades)."""
    return created.parent_job_id is not None or created.type in BATCH_TYPES | EXPANDING_TYPES
