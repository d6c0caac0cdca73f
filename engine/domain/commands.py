"""Commands: what callers ask for. `decide` turns them into events or refuses them."""

from __future__ import annotations

from typing import Any

import msgspec

from engine.domain.events import ChildSpec


class Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="name"):
    """Envelope of every command: a ULID id (events derive their ids from it), job, time, actor."""

    command_id: str
    job_id: str
    at: int
    actor: str


class CreateJob(Command, frozen=True, kw_only=True, tag="create"):
    user_id: str
    type: int
    priority: int
    params: dict[str, Any] = {}
    title: str = ""
    parent_job_id: str | None = None
    depends_on: str | None = None
    extra: dict[str, Any] = {}
    total: int = 1
    # with `depends_on`: run once the dependency finished, whatever its outcome (else only
    # once it succeeded; a dependency that failed or was canceled fails this job)
    after_finished: bool = False


class CancelJob(Command, frozen=True, kw_only=True, tag="cancel"):
    reason: str = "canceled by user"


class DeleteJob(Command, frozen=True, kw_only=True, tag="delete"):
    pass


class StartJob(Command, frozen=True, kw_only=True, tag="start"):
    worker_id: str


class FinishJob(Command, frozen=True, kw_only=True, tag="finish"):
    """Ends a running job: success, failure (with error) or, after a cancel request, canceled."""

    ok: bool
    error: str | None = None


class FailJob(Command, frozen=True, kw_only=True, tag="fail"):
    """Fails a job that is not running (dependency failed, unsupported type, too many attempts)."""

    error: str


class RecordChild(Command, frozen=True, kw_only=True, tag="record_child"):
    child_id: str
    status: int


class ExpandJob(Command, frozen=True, kw_only=True, tag="expand"):
    """A running job hands its work to `children` (created by the dispatcher) and ends, like
    a batch, when they all have; `units` is its planned progress total (e.g. chapters + 1)."""

    children: list[ChildSpec]
    units: int = 0


class RetryJob(Command, frozen=True, kw_only=True, tag="retry"):
    """Queue a finished job again for its failed work. With `rerun`, a job that did not fail
    runs again too: it was made from work that is being redone (an expanded job's child that
    ran after a sibling being retried, e.g. a FULL_NOVEL's epub after its volumes)."""

    rerun: bool = False


class PurgeJob(Command, frozen=True, kw_only=True, tag="purge"):
    """Leaves a tombstone; the caller then erases everything the log held before it."""


AnyCommand = (
    CreateJob
    | CancelJob
    | DeleteJob
    | StartJob
    | FinishJob
    | FailJob
    | RecordChild
    | ExpandJob
    | RetryJob
    | PurgeJob
)
