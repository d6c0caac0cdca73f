"""The application layer behind the routes: commands with read-your-writes, and reads."""

from __future__ import annotations

import hashlib
from typing import Any

import aiosqlite
import msgspec
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from api.limits import Limiter, LimitExceeded, Limits
from api.schemas import AppendedRow
from api.users import User
from engine.domain.commands import CancelJob, CreateJob, DeleteJob, RetryJob
from engine.domain.envelope import command_envelope
from engine.domain.errors import Forbidden, InvalidCommand, JobConflict, JobNotFound
from engine.domain.model import TIER_PRIORITY, JobType
from engine.domain.state import JobState, fold, state_as_of
from engine.jetstream.kv import open_bucket
from engine.jetstream.store import Stored
from engine.purge import PurgeReport, purge_job
from engine.service import JobService, new_id
from projections import queries
from projections.apply import row_of
from projections.errors import NotReady
from projections.projector import Projector
from projections.queries import EventFilter, EventRow, JobFilter, JobRow

IDEMPOTENCY_BUCKET = "idempotency"
IDEMPOTENCY_TTL_S = 24 * 3600.0
# How long a write waits for the read model to show it (read-your-writes) before answering
# without it: a create with the job as appended, other commands with 503.
READ_WAIT_S = 10.0
_WRITTEN_KEPT = 1024  # users whose last create is remembered before the seen ones are dropped


class NewJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job to create, as the routes describe it."""

    type: JobType
    params: dict[str, Any]
    title: str
    total: int = 1
    priority: int | None = None
    depends_on: str | None = None
    parent_job_id: str | None = None
    extra: dict[str, Any] = {}


async def open_idempotency(js: JetStreamContext, replicas: int = 1) -> KeyValue:
    return await open_bucket(js, IDEMPOTENCY_BUCKET, ttl=IDEMPOTENCY_TTL_S, replicas=replicas)


class JobsApi:
    """What the routes call. Reads see the caller's own writes (read-your-writes).

    A create answers once its event is in the log (the log is the truth), with the job as
    decided: it does not wait for the read model. The log sequence of each user's last
    create is kept instead, and that user's reads wait for the read model only while it is
    behind that sequence (`_sees_writes`); on an idle system it is a few ms behind at most.
    A job named by id (a read, a reference, an Idempotency-Key's job) that the read model
    does not show is looked up again once it shows this node's last create, whoever made it
    (`_job`). Other commands (cancel, delete, retry) still return once the read model
    reflects them.
    """

    def __init__(
        self, service: JobService, projector: Projector, db: aiosqlite.Connection, kv: KeyValue,
        limiter: Limiter | None = None, *, read_wait_s: float = READ_WAIT_S,
    ) -> None:  # fmt: skip
        self.service = service
        self.read_wait_s = read_wait_s
        self.projector = projector
        self.db = db
        self.kv = kv
        self.limiter = limiter if limiter is not None else Limiter(Limits())
        self._written: dict[str, int] = {}  # user id -> log sequence of their last create
        self._last_create = 0  # the log sequence of this node's last create

    async def create(self, user: User, new: NewJob, idempotency_key: str | None = None) -> JobRow:
        """Create the job, within the user's limits (LimitExceeded otherwise).

        With `idempotency_key`, a key used before with the same request returns that job
        without counting against the limits; with another request, InvalidCommand.
        """
        await self._check_refs(user, new)
        claim = Claim(job_id=new_id())
        if idempotency_key:
            claim = await self._claim(user, idempotency_key, claim.job_id, fingerprint(new))
            if claim.existing is not None:
                return claim.existing
        try:
            async with self.limiter.creating(user, lambda: self._active(user)):
                return await self._append(user, new, claim.job_id)
        except LimitExceeded:
            if claim.revision is not None:  # refused: the key stays free for a later try
                await self.kv.delete(claim.kv_key, last=claim.revision)
            raise

    async def _active(self, user: User) -> int:
        await self._sees_writes(user)  # the count includes the user's creates before this one
        return await queries.count_unfinished_roots(self.db, user.id)

    def _wrote(self, user: User, seq: int) -> None:
        """Remember `seq` as the user's last write, which their reads must see."""
        self._last_create = max(self._last_create, seq)
        if seq > self._written.get(user.id, 0):
            self._written[user.id] = seq
        if len(self._written) > _WRITTEN_KEPT:  # forget the writes the read model shows
            seen = self.projector.checkpoint
            self._written = {u: s for u, s in self._written.items() if s > seen}

    async def _sees_writes(self, user: User) -> bool:
        """Wait until the read model shows the user's creates through this node (see
        `_shows`); whether it does."""
        return await self._shows(self._written.get(user.id, 0))

    async def _shows(self, seq: int) -> bool:
        """Wait until the read model shows log sequence `seq` (up to `read_wait_s`); whether
        it does. At once when it already does, or when the projector is not running (it
        would not catch up: reads answer from the read model as it is)."""
        if seq <= self.projector.checkpoint:
            return True
        if not self.projector.running:
            return False
        try:
            await self.projector.wait_for(seq, self.read_wait_s)
        except NotReady:
            return False
        return True

    async def _job(
        self, job_id: str, viewer: str | None, with_deleted: bool = False, params: bool = False
    ) -> JobRow | None:
        """The job from the read model. Not there while the read model is behind this node's
        last create: asked again once it shows that create (a job another user just created,
        named by id, is found as the node-wide read-after-create has it)."""
        seen = self.projector.checkpoint  # before the read: it may move while the read runs
        options = {"with_deleted": with_deleted, "with_params": params}
        row = await queries.get_job(self.db, job_id, viewer, **options)
        behind = row is None and self._last_create > seen
        if behind and await self._shows(self._last_create):
            row = await queries.get_job(self.db, job_id, viewer, **options)
        return row

    async def _append(self, user: User, new: NewJob, job_id: str) -> JobRow:
        priority = new.priority if new.priority is not None else TIER_PRIORITY[user.tier]
        command = CreateJob(
            **command_envelope(job_id, user.id), user_id=user.id,
            type=int(new.type), priority=priority, params=new.params, title=new.title,
            parent_job_id=new.parent_job_id, depends_on=new.depends_on, extra=new.extra,
            total=new.total,
        )  # fmt: skip
        try:
            outcome = await self.service.execute(command)
        except JobConflict:
            # Same idempotency key raced from two requests: the other one created it.
            return await self._settled(user, job_id)
        assert outcome.state is not None
        self._wrote(user, outcome.seq)  # the caller's next read waits for the job
        if not self.projector.running:  # reads will not show it: say so
            return _appended(outcome.state)
        return _shown(row_of(outcome.state))  # what reads of the projector's row give

    async def cancel(self, user: User, job_id: str) -> None:
        await self._on_visible(user, CancelJob(**command_envelope(job_id, user.id)))

    async def delete(self, user: User, job_id: str) -> None:
        await self._on_visible(user, DeleteJob(**command_envelope(job_id, user.id)))

    async def retry(self, user: User, job_id: str) -> JobRow:
        """Queue a finished job again for its failed work only."""
        await self._on_visible(user, RetryJob(**command_envelope(job_id, user.id)))
        return await self.get(user, job_id)

    async def _on_visible(self, user: User, command: CancelJob | DeleteJob | RetryJob) -> None:
        """Run `command` on a job the user may see, returning once reads reflect it."""
        await self.get(user, command.job_id)
        outcome = await self.service.execute(command)
        await self.projector.wait_for(outcome.seq, self.read_wait_s)

    async def replay(self, user: User, job_id: str) -> JobRow:
        old = await self.get(user, job_id, params=True)
        new = NewJob(
            type=JobType(old.type), params=old.params, title=old.job_title, total=old.total,
            priority=old.priority, parent_job_id=old.parent_job_id,
            extra={**old.extra, "replay_of": old.id},
        )  # fmt: skip
        return await self.create(user, new)

    async def get(
        self, user: User, job_id: str, *, audit: bool = False, params: bool = False
    ) -> JobRow:
        """The job if the user may see it; with `audit`, admins also see deleted jobs. Its
        `params` are read only when asked for (no view shows them)."""
        with_deleted = audit and user.is_admin
        fresh = await self._sees_writes(user)
        row = await self._job(job_id, viewer_of(user), with_deleted, params)
        if row is None and not fresh:  # it may be one of the user's creates not shown yet
            raise NotReady(f"job {job_id}: the read model is behind; try again")
        if row is None:
            raise JobNotFound(f"job {job_id} not found")
        return row

    async def list_jobs(
        self, user: User, f: JobFilter, offset: int, limit: int
    ) -> tuple[int, list[JobRow]]:
        f = msgspec.structs.replace(f, viewer=viewer_of(user))
        await self._sees_writes(user)
        return await queries.list_jobs(self.db, f, offset, limit)

    async def events(
        self, user: User, job_id: str, offset: int, limit: int
    ) -> tuple[int, list[EventRow]]:
        await self.get(user, job_id, audit=True)
        return await queries.job_events(self.db, job_id, offset, limit)

    async def log_events(self, user: User, f: EventFilter, limit: int) -> list[EventRow]:
        """The audit log as `f` selects it, limited to what the user may see."""
        if f.job_id is not None:
            await self.get(user, f.job_id, audit=True)
        f = msgspec.structs.replace(f, viewer=viewer_of(user))
        await self._sees_writes(user)
        return await queries.log_events(self.db, f, limit)

    async def job_at(
        self, user: User, job_id: str, *, seq: int | None = None, at: int | None = None
    ) -> tuple[JobState, list[Stored]]:
        """The job as it was at log sequence `seq` or ms time `at`, folded from the log (not
        the read model), with the history it was folded from.

        Visibility follows the job as it is now: its owner while it is not deleted, admins
        always, nobody once purged. Before the job's first event: JobNotFound.
        """
        stored = await self.service.store.history(job_id)
        history = [(s.seq, s.event) for s in stored]
        now = fold(history)
        if now is None or now.purged or not _may_audit(user, now):
            raise JobNotFound(f"job {job_id} not found")
        then = state_as_of(history, seq=seq, at=at)
        if then is None:
            point = f"sequence {seq}" if seq is not None else f"time {at}"
            raise JobNotFound(f"job {job_id} did not exist yet at {point}")
        return then, stored

    async def purge(self, user: User, job_id: str, nc: NATS) -> PurgeReport:
        """Erase the job (and a batch's children) from the log and the bodies; admins only."""
        if not user.is_admin:
            raise Forbidden("purge: only an admin may purge a job's history")
        report = await purge_job(self.service, nc, job_id, user.id)
        await self.projector.wait_for(report.seq)
        return report

    async def _check_refs(self, user: User, new: NewJob) -> None:
        """The jobs `new` names exist for the user: InvalidCommand naming the field when one
        does not; NotReady (503) when the read model, still behind this node's last create
        after `read_wait_s`, cannot tell (the job may be one just created)."""
        for field, ref in (("depends_on", new.depends_on), ("parent_job_id", new.parent_job_id)):
            if ref is None or await self._job(ref, viewer_of(user)) is not None:
                continue
            if self._last_create > self.projector.checkpoint:
                raise NotReady(f"{field}: job {ref} is not readable yet; try again")
            raise InvalidCommand(f"{field}: job {ref} not found", field=field)

    async def _claim(self, user: User, key: str, job_id: str, fingerprint: str) -> Claim:
        """Bind the key to `job_id` and the request's fingerprint, or return the job the key
        is already bound to; InvalidCommand when it was bound by a different request."""
        kv_key = idempotency_kv_key(user.id, key)
        binding = _Binding(job_id=job_id, fingerprint=fingerprint)
        try:
            revision = await self.kv.create(kv_key, _encode_binding(binding))
            return Claim(job_id=job_id, kv_key=kv_key, revision=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            entry = await self.kv.get(kv_key)
        bound = decode_binding(entry.value or b"")
        if bound.fingerprint is not None and bound.fingerprint != fingerprint:
            raise InvalidCommand(
                f"Idempotency-Key: already used for job {bound.job_id} with a different "
                "request; use a new key for a different request",
                field="Idempotency-Key",
            )
        # None: the first request may have died between claiming the key and appending;
        # creating under the bound id finishes its work (a second create conflicts).
        existing = await self._job(bound.job_id, viewer_of(user))
        return Claim(job_id=bound.job_id, kv_key=kv_key, existing=existing)

    async def _settled(self, user: User, job_id: str) -> JobRow:
        state = await self.service.store.load(job_id)
        if state is None:
            raise JobConflict(f"job {job_id} is being created; try again")
        if state.deleted:
            raise JobConflict(f"Idempotency-Key was used for job {job_id}, since deleted")
        try:  # the key is the user's, and so is its job
            return await self._read_after(state.version, user, job_id)
        except NotReady:
            return _appended(state)

    async def _read_after(self, seq: int, user: User, job_id: str) -> JobRow:
        await self.projector.wait_for(seq, self.read_wait_s)
        return await self.get(user, job_id)


def _appended(state: JobState) -> AppendedRow:
    """The job as the log holds it, for a create answered before the read model shows it."""
    return AppendedRow(**msgspec.structs.asdict(_shown(row_of(state))))


def _shown(row: JobRow) -> JobRow:
    """`row` as reads of the read model give it: its params left out (`queries.get_job`)."""
    return msgspec.structs.replace(row, params={})


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """An Idempotency-Key's job: `existing` when the key's job exists already; `revision`
    when this request bound the key (the KV entry's revision, to release it on a refusal)."""

    job_id: str
    kv_key: str = ""
    existing: JobRow | None = None
    revision: int | None = None


class _Binding(msgspec.Struct, frozen=True, kw_only=True):
    """What an idempotency key is bound to. Entries written before fingerprints held the
    job id alone, as plain text: they read as no fingerprint, which any request matches."""

    job_id: str
    fingerprint: str | None = None


_encode_binding = msgspec.json.Encoder().encode
_decode_binding = msgspec.json.Decoder(_Binding).decode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def decode_binding(value: bytes) -> _Binding:
    if value.startswith(b"{"):
        return _decode_binding(value)
    return _Binding(job_id=value.decode())


def idempotency_kv_key(user_id: str, key: str) -> str:
    """The idempotency bucket's key for `key` as sent by `user_id`."""
    return f"{user_id}.{hashlib.sha256(key.encode()).hexdigest()[:48]}"


def fingerprint(new: NewJob) -> str:
    """What makes two creates the same request: type, params, priority, dependency, parent
    (title, total and extra follow from these)."""
    request = [int(new.type), new.params, new.priority, new.depends_on, new.parent_job_id]
    return hashlib.sha256(_encode_sorted(request)).hexdigest()


def viewer_of(user: User) -> str | None:
    """The read model's `viewer` for `user`: None (every job) for admins, else their id."""
    return None if user.is_admin else user.id


def _may_audit(user: User, job: JobState) -> bool:
    return user.is_admin or (job.user_id == user.id and not job.deleted)
