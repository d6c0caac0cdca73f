"""`decide`: the pure rule book that turns a command and the current state into events."""

from __future__ import annotations

import hashlib

from ulid import ULID

from engine.domain.commands import (
    AnyCommand,
    CancelJob,
    Command,
    CreateJob,
    DeleteJob,
    ExpandJob,
    FailJob,
    FinishJob,
    PurgeJob,
    RecordChild,
    RetryJob,
    StartJob,
)
from engine.domain.envelope import EventEnvelope, event_envelope
from engine.domain.errors import InvalidCommand, JobConflict, JobNotFound, NothingToRetry
from engine.domain.events import (
    AnyEvent,
    CancelRequested,
    ChildFinished,
    ChildSpec,
    JobCanceled,
    JobCreated,
    JobDeleted,
    JobExpanded,
    JobFailed,
    JobPurged,
    JobStarted,
    JobSucceeded,
    RetryRequested,
)
from engine.domain.model import JobStatus
from engine.domain.state import JobState


class _Ids:
    """Event ids derived from the command id, so a retried command yields the same events.

    The first event's id is the command id; event n (n >= 1) keeps its time and takes the rest
    from a hash of (command id, n). Not command id + n: python-ulid mints the ULIDs of one
    millisecond by adding 1, so that was the id the process minted next (another command's,
    a worker's event's), and two events in the log had one id.
    """

    def __init__(self, command: Command) -> None:
        self._command = command
        self._first: ULID | None = None  # the command id parsed, for the events after the first
        self._n = 0

    def envelope(self) -> EventEnvelope:
        """The next event's envelope: the next derived id, the command's job, time and actor."""
        cmd = self._command
        event_id = cmd.command_id if self._n == 0 else self._derived(self._n)
        self._n += 1
        return event_envelope(cmd.job_id, cmd.actor, event_id=event_id, at=cmd.at)

    def _derived(self, n: int) -> str:
        if (first := self._first) is None:  # parsed only when a command makes two events
            first = self._first = ULID.from_str(self._command.command_id)
        rest = hashlib.blake2b(f"{first}:{n}".encode(), digest_size=10).digest()
        return str(ULID.from_bytes(first.bytes[:6] + rest))  # 48-bit time, 80 bits


def _live(state: JobState | None, job_id: str) -> JobState:
    if state is None or state.deleted:
        raise JobNotFound(f"job {job_id} not found")
    return state


def _known(state: JobState | None, job_id: str) -> JobState:
    """The job, deleted or not; a purged job is as gone as one that never existed."""
    if state is None or state.purged:
        raise JobNotFound(f"job {job_id} not found")
    return state


def _create(state: JobState | None, cmd: CreateJob, ids: _Ids) -> list[AnyEvent]:
    if state is not None:
        raise JobConflict(f"job {cmd.job_id} already exists")
    return [
        JobCreated(
            **ids.envelope(),
            user_id=cmd.user_id,
            type=cmd.type,
            priority=cmd.priority,
            params=cmd.params,
            title=cmd.title,
            parent_job_id=cmd.parent_job_id,
            depends_on=cmd.depends_on,
            extra=cmd.extra,
            total=cmd.total,
            after_finished=cmd.after_finished,
        )
    ]


def _stop(s: JobState, ids: _Ids, reason: str) -> list[AnyEvent]:
    """Events that stop a live job: at once when pending, cooperatively when running."""
    if s.status == JobStatus.PENDING:
        return [JobCanceled(**ids.envelope(), reason=reason)]
    if s.status == JobStatus.RUNNING and not s.cancel_requested:
        return [CancelRequested(**ids.envelope())]
    return []


def _cancel(state: JobState | None, cmd: CancelJob, ids: _Ids) -> list[AnyEvent]:
    s = _live(state, cmd.job_id)
    if s.is_done:
        raise JobConflict(f"job {cmd.job_id} is already finished")
    return _stop(s, ids, cmd.reason)


def _delete(state: JobState | None, cmd: DeleteJob, ids: _Ids) -> list[AnyEvent]:
    s = _live(state, cmd.job_id)
    stop = [] if s.is_done else _stop(s, ids, "deleted")
    return [*stop, JobDeleted(**ids.envelope())]


def _start(state: JobState | None, cmd: StartJob, ids: _Ids) -> list[AnyEvent]:
    s = _live(state, cmd.job_id)
    if s.is_done:
        raise JobConflict(f"job {cmd.job_id} is already finished")
    if s.expanded and s.status == JobStatus.RUNNING:
        raise JobConflict(f"job {cmd.job_id} was handed to its children")
    if s.cancel_requested:
        return [JobCanceled(**ids.envelope(), reason="canceled before restart")]
    started = JobStarted(**ids.envelope(), worker_id=cmd.worker_id, attempt=s.attempts + 1)
    return [started]


def _finish(state: JobState | None, cmd: FinishJob, ids: _Ids) -> list[AnyEvent]:
    state = _known(state, cmd.job_id)
    if state.is_done:
        raise JobConflict(f"job {cmd.job_id} is already finished")
    if len(state.children) < state.expanded:
        raise JobConflict(f"job {cmd.job_id} ends when its children have")
    env = ids.envelope()
    if state.cancel_requested:
        return [JobCanceled(**env, reason="canceled while running")]
    if cmd.ok:
        return [JobSucceeded(**env)]
    return [JobFailed(**env, error=cmd.error or "failed")]


def _fail(state: JobState | None, cmd: FailJob, ids: _Ids) -> list[AnyEvent]:
    state = _known(state, cmd.job_id)
    if state.is_done:
        raise JobConflict(f"job {cmd.job_id} is already finished")
    if state.expanded:
        raise JobConflict(f"job {cmd.job_id} ends when its children have")
    return [JobFailed(**ids.envelope(), error=cmd.error)]


def _record_child(state: JobState | None, cmd: RecordChild, ids: _Ids) -> list[AnyEvent]:
    state = _known(state, cmd.job_id)
    if state.children.get(cmd.child_id) == cmd.status:
        return []
    if cmd.status < JobStatus.SUCCESS and cmd.child_id not in state.children:
        return []  # a child running again that the job no longer counts
    event = ChildFinished(**ids.envelope(), child_id=cmd.child_id, status=cmd.status)
    return [event]


def _expand(state: JobState | None, cmd: ExpandJob, ids: _Ids) -> list[AnyEvent]:
    """Once, while the job runs and no cancel was asked for: a redelivered or resumed run
    asking again is refused, so the children are planned exactly once."""
    s = _live(state, cmd.job_id)
    if s.expanded:
        raise JobConflict(f"job {cmd.job_id} is already expanded")
    if s.status != JobStatus.RUNNING or s.cancel_requested:
        raise JobConflict(f"job {cmd.job_id} is not running")
    _check_children(cmd.children)
    return [JobExpanded(**ids.envelope(), children=cmd.children, units=cmd.units)]


def _check_children(children: list[ChildSpec]) -> None:
    """At least one child, each waiting (`after`) only for a sibling listed before it."""
    if not children:
        raise InvalidCommand("an expansion needs at least one child", field="children")
    for index, spec in enumerate(children):
        if spec.after is not None and not 0 <= spec.after < index:
            message = f"child {index} waits for {spec.after}, not a sibling listed before it"
            raise InvalidCommand(message, field=f"children[{index}].after")


def _retry(state: JobState | None, cmd: RetryJob, ids: _Ids) -> list[AnyEvent]:
    s = _live(state, cmd.job_id)
    if not s.is_done:
        raise JobConflict(f"job {cmd.job_id} is still running")
    if not cmd.rerun and s.failed == 0 and s.status != JobStatus.FAILED:
        raise NothingToRetry(f"job {cmd.job_id} has no failed work to retry")
    return [RetryRequested(**ids.envelope())]


def _purge(state: JobState | None, cmd: PurgeJob, ids: _Ids) -> list[AnyEvent]:
    """A tombstone for a finished job (deleted or not). A purged job gets a new one, so a
    repeated purge also erases anything written after the first tombstone."""
    if state is None:
        raise JobNotFound(f"job {cmd.job_id} not found")
    if not state.is_done:
        raise JobConflict(
            f"job {cmd.job_id} has not finished; cancel it and purge once it has stopped"
        )
    return [JobPurged(**ids.envelope())]


def decide(state: JobState | None, command: AnyCommand) -> list[AnyEvent]:  # noqa: C901 - one case per command kind
    """Events that carry out `command` on `state`; raises a Refusal when it may not."""
    ids = _Ids(command)
    match command:
        case CreateJob():
            return _create(state, command, ids)
        case CancelJob():
            return _cancel(state, command, ids)
        case DeleteJob():
            return _delete(state, command, ids)
        case StartJob():
            return _start(state, command, ids)
        case FinishJob():
            return _finish(state, command, ids)
        case FailJob():
            return _fail(state, command, ids)
        case RecordChild():
            return _record_child(state, command, ids)
        case ExpandJob():
            return _expand(state, command, ids)
        case RetryJob():
            return _retry(state, command, ids)
        case PurgeJob():
            return _purge(state, command, ids)
