"""The dispatcher's work on children: a batch's spawned, an expansion's planned, their
roll-ups into the parent, a parent's cancel passed on, a parent's retry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

from engine.dispatcher.core import DISPATCHER, Core
from engine.domain.batches import (
    CHILD_OF,
    EXPANDING_TYPES,
    child_count,
    child_id,
    child_ids,
    child_params,
    child_title,
    children_of,
    expansion_child_id,
    planned_units,
    spawned_by,
)
from engine.domain.commands import (
    CancelJob,
    CreateJob,
    FinishJob,
    RecordChild,
    RetryJob,
    StartJob,
)
from engine.domain.envelope import command_envelope
from engine.domain.events import ChildSpec, JobExpanded
from engine.domain.model import BATCH_TYPES, JobStatus, JobType
from engine.domain.state import JobState

# A batch's children created at once (a group commit batch holds at most 100 events)
CREATE_AT_ONCE = 100


class Children(Core):
    """Creates, counts and cancels jobs' children; every step idempotent (deterministic
    child ids, `decide` refusing repeats)."""

    async def _spawn(self, parent: JobState) -> None:
        items = parent.params.get(CHILD_OF[JobType(parent.type)][1], [])
        await self._create_all(
            [self._create_child(parent, i, item) for i, item in enumerate(items)]
        )
        start = StartJob(**command_envelope(parent.id, DISPATCHER), worker_id=DISPATCHER)
        await self._do(start, parent)

    async def _create_all(self, creates: Sequence[CreateJob]) -> None:
        """Create the children in runs (`_runs`): the service's group commit stores a run in
        one atomic batch, where one by one each create waited for its own disk sync (a
        60-volume novel's VOLUMEs took 60 of them). Every create of a run is tried; the
        first store error is raised after (the event is handed back, and those made are
        refused the next time)."""
        for run in _runs(creates):
            done = await asyncio.gather(*map(self._do, run), return_exceptions=True)
            error = next((e for e in done if isinstance(e, BaseException)), None)
            if error is not None:
                raise error

    def _create_child(self, parent: JobState, index: int, item: Any) -> CreateJob:
        child_type = CHILD_OF[JobType(parent.type)][0]
        return CreateJob(
            **command_envelope(child_id(parent.id, index), DISPATCHER), user_id=parent.user_id,
            type=int(child_type), priority=parent.priority, params=child_params(parent, item),
            title=child_title(item), parent_job_id=parent.id, total=planned_units(item),
        )  # fmt: skip

    async def _on_expanded(self, event: JobExpanded) -> None:
        """Create the children an expansion planned (a redelivery creates none twice), then
        pass on a cancel that reached the job meanwhile."""
        parent = await self._store.load(event.job_id)
        if parent is None or not parent.expanded:
            return
        await self._create_all(
            [self._expansion_child(parent, i, spec) for i, spec in enumerate(event.children)]
        )
        parent = await self._store.load(parent.id, parent)
        if parent is not None and (parent.cancel_requested or parent.status == JobStatus.CANCELED):
            await self._cascade_cancel(parent.id)

    def _expansion_child(self, parent: JobState, index: int, spec: ChildSpec) -> CreateJob:
        after = None if spec.after is None else expansion_child_id(parent.id, spec.after)
        job_id = expansion_child_id(parent.id, index)
        return CreateJob(
            **command_envelope(job_id, DISPATCHER), user_id=parent.user_id,
            type=spec.type, priority=parent.priority, params=spec.params, title=spec.title,
            parent_job_id=parent.id, total=spec.total, depends_on=after,
            after_finished=after is not None,
        )  # fmt: skip

    async def _roll_up(self, child: JobState) -> None:
        """Count an ended child in its parent (a batch or an expanded job); finish the parent
        with its last child.

        Only children the dispatcher spawned count: a job merely created with
        `parent_job_id` pointing somewhere leaves that job alone. An unfinished parent is
        kept until its next child's roll-up, which then reads only the parent's events since
        (a big batch's history is mostly roll-ups: reading it all for each child is quadratic).
        """
        assert child.parent_job_id is not None
        kept = self._batches.pop(child.parent_job_id, None)
        parent = await self._store.load(child.parent_job_id, kept)
        if parent is None or not spawned_by(parent, child.id):
            return
        env = command_envelope(parent.id, DISPATCHER)
        record = RecordChild(**env, child_id=child.id, status=child.status)
        parent = await self._do(record, parent) or parent
        if parent.is_done:
            return
        count = child_count(parent)
        if len(parent.children) < count:
            self._keep(parent)
            return
        error = f"{parent.failed} of {count} children failed" if parent.failed else None
        finish = FinishJob(**command_envelope(parent.id, DISPATCHER), ok=error is None, error=error)
        await self._do(finish, parent)

    async def _cascade_cancel(self, parent_id: str) -> None:
        """Cancel the job's children; a child with children of its own passes it on when its
        cancel request (or its end, canceled) comes back to the dispatcher."""
        for cid in await self._children_of(parent_id):
            reason = f"parent {parent_id} canceled"
            await self._do(CancelJob(**command_envelope(cid, DISPATCHER), reason=reason))

    async def _children_of(self, job_id: str) -> list[str]:
        """The ids of the job's children. A batch's follow from its created event (type and
        total are fixed at creation); only a job that may expand has its history read."""
        created = await self._store.created(job_id)
        if created is None:
            return []
        if created.type in BATCH_TYPES:
            return child_ids(job_id, created.total)
        if created.type not in EXPANDING_TYPES:
            return []
        job = await self._store.load(job_id)
        return children_of(job) if job is not None else []

    async def _retry_children(self, job: JobState) -> None:
        """Queue a retried parent's children again (see `_reruns`), then start it again."""
        redo, rerun = await self._reruns(job)
        for cid in rerun:  # no longer counted, so the job cannot end before they have
            env = command_envelope(job.id, DISPATCHER)
            await self._do(RecordChild(**env, child_id=cid, status=int(JobStatus.PENDING)))
        for cid in redo:
            await self._do(RetryJob(**command_envelope(cid, DISPATCHER), rerun=cid in rerun))
        start = StartJob(**command_envelope(job.id, DISPATCHER), worker_id=DISPATCHER)
        await self._do(start, job)

    async def _reruns(self, job: JobState) -> tuple[list[str], set[str]]:
        """The children to queue again, in order: those that did not succeed, and, of an
        expanded job, those that ran after one of these (a FULL_NOVEL's epub is made again
        once its volumes are); the second set is the latter (`rerun`)."""
        ordered = children_of(job)
        redo = {cid for cid in ordered if cid not in job.children}
        rerun: set[str] = set()
        if job.expanded and redo:
            for cid in ordered:  # `after` names a sibling listed before: one pass suffices
                created = await self._store.created(cid)
                if created is not None and created.after_finished and created.depends_on in redo:
                    rerun.add(cid)
                    redo.add(cid)
        return [cid for cid in ordered if cid in redo], rerun


def _runs(creates: Sequence[CreateJob]) -> Iterator[list[CreateJob]]:
    """`creates` in order, cut into runs of at most CREATE_AT_ONCE, a create that depends on
    one of its run starting the next: a run's creates may be stored in any order (one by
    one, when their batch is refused), and a job whose dependency is not in the log yet
    would fail."""
    run: list[CreateJob] = []
    ids: set[str] = set()
    for create in creates:
        if len(run) >= CREATE_AT_ONCE or create.depends_on in ids:
            yield run
            run, ids = [], set()
        run.append(create)
        ids.add(create.job_id)
    if run:
        yield run
