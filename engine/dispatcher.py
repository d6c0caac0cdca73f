"""The dispatcher: reacts to the log, turning runnable jobs into work items.

It follows lifecycle events on `JOBS` with a durable consumer and acks each after handling
it. Every reaction is idempotent (deterministic child ids, deduplicated work items,
`decide` refusing repeats), so a redelivered event changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue

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
    is_parent,
    planned_units,
    spawned_by,
)
from engine.domain.commands import (
    AnyCommand,
    CancelJob,
    CreateJob,
    FailJob,
    FinishJob,
    RecordChild,
    RetryJob,
    StartJob,
)
from engine.domain.envelope import command_envelope
from engine.domain.errors import Refusal
from engine.domain.eventlog import EventLog
from engine.domain.events import (
    AnyEvent,
    CancelRequested,
    ChildSpec,
    JobCanceled,
    JobCreated,
    JobExpanded,
    JobFailed,
    JobSucceeded,
    RetryRequested,
)
from engine.domain.model import BATCH_TYPES, JobStatus, JobType
from engine.domain.state import JobState
from engine.jetstream.acks import fetch_ready, settle
from engine.jetstream.errors import StoreError
from engine.jetstream.kv import open_bucket
from engine.jetstream.provision import answered
from engine.jetstream.store import JOBS_STREAM
from engine.jetstream.work import enqueue
from engine.service import JobService

log = logging.getLogger(__name__)

DISPATCHER = "dispatcher"
_RETRY_S = 1.0  # pause after a failed fetch; redelivery delay of a reaction the store refused
# the events `react` handles; their tags (the subjects' last token) filter the consumer
_REACTS_TO = (
    JobCreated, JobSucceeded, JobFailed, JobCanceled, CancelRequested, RetryRequested, JobExpanded,
)  # fmt: skip
_KINDS = tuple(str(t.__struct_config__.tag) for t in _REACTS_TO)
_KEPT_BATCHES = 256  # unfinished batch parents kept between their children's roll-ups


class Dispatcher:
    """Makes jobs runnable: dependencies, batch and expansion children, roll-ups, cancel
    cascades."""

    def __init__(self, nc: NATS, service: JobService, dependents: KeyValue) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._service = service
        self._store: EventLog = service.store
        self._deps = dependents
        self._batches: dict[str, JobState] = {}  # see _roll_up; least recently used first
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=DISPATCHER,
            filter_subjects=[f"jobs.*.{k}" for k in _KINDS],
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=60,
            max_ack_pending=1000,
        )
        await answered(lambda: self._js.add_consumer(JOBS_STREAM, config), "the dispatcher")
        sub = await self._js.pull_subscribe_bind(DISPATCHER, JOBS_STREAM)
        self._task = asyncio.create_task(self._run(sub), name="dispatcher")

    async def stop(self) -> None:
        """Stop after the event in hand. The flag, not only cancel(), ends the loop: a cancel
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
                msgs = await fetch_ready(sub, 50, 1.0)
            except nats.errors.Error as e:  # connection trouble: the next fetch may succeed
                log.warning("dispatcher: fetch failed: %s", e)
                await asyncio.sleep(_RETRY_S)
                continue
            for msg in msgs:
                await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        """React to one message, then settle it; nothing a message holds stops the loop.

        Handled (or refused by `decide`): acked. The store or NATS failing: nak'ed with a
        delay, so the reaction is tried again. Undecodable, or a reaction that raised
        anything else: logged and terminated, so it is never delivered again.
        """
        try:
            event = self._store.codec.decode(msg.data)
        except msgspec.MsgspecError as e:
            log.error("dispatcher: dropped undecodable message on %s: %s", msg.subject, e)
            await settle(msg.term(), DISPATCHER)
            return
        try:
            await self.react(msg.metadata.sequence.stream, event)
        except (StoreError, nats.errors.Error) as e:
            log.warning("dispatcher: %s on %s, will retry: %s", type(e).__name__, msg.subject, e)
            await settle(msg.nak(delay=_RETRY_S), DISPATCHER)
            return
        except Refusal as e:
            log.warning("dispatcher: %s on %s: %s", type(e).__name__, msg.subject, e)
        except Exception:
            log.exception("dispatcher: reaction to %s failed; message dropped", msg.subject)
            await settle(msg.term(), DISPATCHER)
            return
        await settle(msg.ack(), DISPATCHER)

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
        if event.depends_on is None and event.type not in BATCH_TYPES:
            # the common case needs no history: the created event says all we need
            await enqueue(self._js, event.job_id, event.priority, seq)
            return
        if event.depends_on is None:
            await self._runnable(seq, event.job_id)
            return
        dep = await self._store.load(event.depends_on)
        if dep is not None and _releases(dep, event.after_finished):
            await self._runnable(seq, event.job_id)
        elif dep is None or dep.is_done:
            await self._fail(event.job_id, _dep_error(event.depends_on, dep))
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

    async def _spawn(self, parent: JobState) -> None:
        items = parent.params.get(CHILD_OF[JobType(parent.type)][1], [])
        for index, item in enumerate(items):
            await self._do(self._create_child(parent, index, item))
        start = StartJob(**command_envelope(parent.id, DISPATCHER), worker_id=DISPATCHER)
        await self._do(start, parent)

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
        for index, spec in enumerate(event.children):
            await self._do(self._expansion_child(parent, index, spec))
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

    async def _on_ended(self, event: AnyEvent) -> None:
        """Roll an ended job up into its batch, cascade a batch's cancel, settle dependents.

        Most jobs have none of these: their created event and the dependents bucket say so,
        and a crawl's history (thousands of page events) is then not read at all.
        """
        created = await self._store.created(event.job_id)
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

    async def _acts_at_end(self, created: JobCreated) -> bool:
        """Whether the end of this job changes another: a parent, children or dependents."""
        if created.parent_job_id is not None or created.type in BATCH_TYPES | EXPANDING_TYPES:
            return True
        return bool(await self._dependents(created.job_id))

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

    def _keep(self, batch: JobState) -> None:
        self._batches[batch.id] = batch
        if len(self._batches) > _KEPT_BATCHES:
            del self._batches[next(iter(self._batches))]

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

    async def _on_retry(self, seq: int, job_id: str) -> None:
        """Queue a retried job again: a parent retries its children that did not succeed
        and re-runs those that ran after one of them (`_reruns`); a job whose dependency is
        being redone waits for it again."""
        job = await self._store.load(job_id)
        if job is None or not is_parent(job):
            if job is None or job.depends_on is None or not await self._waits_again(job):
                await self._runnable(seq, job_id, job)
            return
        redo, rerun = await self._reruns(job)
        for cid in rerun:  # no longer counted, so the job cannot end before they have
            env = command_envelope(job_id, DISPATCHER)
            await self._do(RecordChild(**env, child_id=cid, status=int(JobStatus.PENDING)))
        for cid in redo:
            await self._do(RetryJob(**command_envelope(cid, DISPATCHER), rerun=cid in rerun))
        start = StartJob(**command_envelope(job_id, DISPATCHER), worker_id=DISPATCHER)
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
            if state is not None and _releases(dep, state.after_finished):
                await self._runnable(state.version, job_id, state)
            elif state is not None:
                await self._fail(job_id, _dep_error(dep.id, dep))

    async def _dependents(self, dep_id: str) -> list[str]:
        try:
            entry = await self._deps.get(dep_id)
        except nats.js.errors.KeyNotFoundError:
            return []
        return list(msgspec.json.decode(entry.value or b"[]", type=list[str]))

    async def _add_dependent(self, dep_id: str, job_id: str) -> None:
        for _ in range(20):
            try:
                entry = await self._deps.get(dep_id)
            except nats.js.errors.KeyNotFoundError:
                with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                    await self._deps.create(dep_id, msgspec.json.encode([job_id]))
                    return
                continue
            current = msgspec.json.decode(entry.value or b"[]", type=list[str])
            if job_id in current:
                return
            new = msgspec.json.encode([*current, job_id])
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await self._deps.update(dep_id, new, last=entry.revision)
                return

    async def _fail(self, job_id: str, error: str) -> None:
        await self._do(FailJob(**command_envelope(job_id, DISPATCHER), error=error))

    async def _do(self, command: AnyCommand, known: JobState | None = None) -> JobState | None:
        """Carry out `command` (on `known`, see JobService.execute); the job after it, or None
        when `decide` refused it. A store error propagates: `_handle` naks the event, and the
        reaction is tried again (a swallowed outage here would leave a batch child uncreated)."""
        try:
            return (await self._service.execute(command, known)).state
        except Refusal as e:  # already done, already exists: the reaction happened before
            log.debug("dispatcher: %s skipped: %s", type(command).__name__, e)
            return None


def _releases(dep: JobState, after_finished: bool) -> bool:
    """Whether `dep`, as it is, lets its dependent run: once it succeeded, or (for an
    `after_finished` dependent) once it finished, whatever the outcome, unless deleted."""
    if dep.status == JobStatus.SUCCESS:
        return True
    return after_finished and dep.is_done and not dep.deleted


def _dep_error(dep_id: str, dep: JobState | None) -> str:
    if dep is None or dep.deleted:
        return f"dependency {dep_id} does not exist"
    return f"dependency {dep_id} {JobStatus(dep.status).name.lower()}"


async def open_dependents(nc: NATS, replicas: int = 1) -> KeyValue:
    return await open_bucket(nc.jetstream(), "dependents", history=1, replicas=replicas)
