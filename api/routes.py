"""lncrawl's Jobs API routes: thin handlers over `JobsApi`."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, HeaderParameter, JSONBody, QueryParameter

from api.audit import I64, event_query, parse_point, past_view
from api.bodies import strict_body
from api.deps import Jobs, RuntimeDep
from api.ids import JobIdPath
from api.includes import parse_include, view
from api.jobs import JobsApi, NewJob, viewer_of
from api.novel_creates import Library, chapters_job, images_job, novel_job, volumes_job
from api.schemas import (
    AuditEvent,
    AuditPage,
    FetchChaptersBody,
    FetchImagesBody,
    FetchNovelBody,
    FetchVolumesBody,
    Job,
    JobEvent,
    MakeArtifactsBody,
    Page,
    Purged,
)
from api.spider_schemas import SPIDER_ID_PATTERN
from api.users import User
from engine.artifacts.formats import can_make
from engine.domain.errors import Forbidden, InvalidCommand
from engine.domain.model import ALL_FORMATS, TIER_FORMATS, Category, JobType
from engine.novels.sources.registry import SourceInfo
from engine.service import now_ms
from projections.library import get_novel, latest_toc_job
from projections.queries import JobFilter

Offset = Annotated[int, QueryParameter(ge=0, le=I64, description="Records to skip.")]
IntFilter = Annotated[int | None, QueryParameter(ge=-I64, le=I64)]
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="At most 100.")]
IdemKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", required=False, max_length=200)
]
CurrentUser = NamedDependency[User]
AsOf = Annotated[str | None, QueryParameter(description="A log sequence: the job as it was then.")]
AtMs = Annotated[str | None, QueryParameter(description="A ms timestamp: the job as it was then.")]
AuditParam = Annotated[str | None, QueryParameter()]
SpiderIdQuery = Annotated[
    str | None, QueryParameter(pattern=SPIDER_ID_PATTERN, description="A spider's id.")
]
_RANGE = re.compile(r"^(\d{1,5})([hdw])$")
_UNIT_MS = {"h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def _since(value: str | None) -> int | None:
    if value is None:
        return None
    match = _RANGE.match(value)
    if match is None:
        raise InvalidCommand("range: expected a number and h, d or w, like 7d", field="range")
    return now_ms() - int(match.group(1)) * _UNIT_MS[match.group(2)]


def _check_formats(user: CurrentUser, formats: list[str]) -> None:
    unknown = [f for f in formats if f not in ALL_FORMATS]
    if unknown:
        raise InvalidCommand(
            f"formats: unknown format {unknown[0]!r}; supported: {', '.join(ALL_FORMATS)}",
            field="formats",
        )
    allowed = TIER_FORMATS[user.tier]
    above = [f for f in formats if f not in allowed]
    if above:
        raise Forbidden(f"formats: {above[0]!r} is not available on the {user.tier.value} tier")


def _check_makeable(formats: list[str]) -> None:
    """422 for a format this server cannot make now (a Calibre one without ebook-convert)."""
    cannot = [f for f in formats if not can_make(f)]
    if cannot:
        raise InvalidCommand(
            f"formats: this server cannot make {cannot[0]!r} (it needs Calibre's "
            "ebook-convert, which is not installed); epub, json, txt and tcr can be made",
            field="formats",
        )


async def _artifact_job(jobs: JobsApi, user: User, novel_id: str, formats: list[str]) -> NewJob:
    """The ARTIFACT (one format) or ARTIFACT_BATCH of a novel `user` sees, built from the
    novel's current table of contents (`toc_job_id`); 422 naming `novel_id` otherwise."""
    novel = await get_novel(jobs.db, novel_id, viewer_of(user))
    toc_job_id = await latest_toc_job(jobs.db, novel_id) if novel is not None else None
    if novel is None or toc_job_id is None:
        raise InvalidCommand(f"novel_id: no novel {novel_id[:40]!r} in your library",
                             field="novel_id")  # fmt: skip
    many = len(formats) > 1
    return NewJob(
        type=JobType.ARTIFACT_BATCH if many else JobType.ARTIFACT,
        params={"novel_id": novel.id, "formats": formats, "toc_job_id": toc_job_id},
        title=f"{novel.title} · {', '.join(formats)}",
        total=len(formats),
    )


def _with(new: NewJob, body: Any) -> NewJob:
    """`new` with the options every create body carries (priority, dependency, parent)."""
    return msgspec.structs.replace(
        new, priority=body.priority, depends_on=body.depends_on, parent_job_id=body.parent_job_id
    )


class JobsController(Controller):
    path = "/api"
    tags = ["jobs"]

    @get("/jobs")
    async def list_jobs(
        self,
        user: CurrentUser,
        jobs: Jobs,
        offset: Offset = 0,
        limit: Limit = 20,
        type: IntFilter = None,
        status: IntFilter = None,
        priority: IntFilter = None,
        user_id: FromQuery[str | None] = None,
        parent_job_id: FromQuery[str | None] = None,
        is_done: FromQuery[bool | None] = None,
        category: FromQuery[Category | None] = None,
        range: FromQuery[str | None] = None,
        include: FromQuery[str | None] = None,
        spider_id: SpiderIdQuery = None,
    ) -> Page[Job]:
        """Jobs visible to the caller, newest first; root jobs unless `parent_job_id` is given;
        `spider_id`: the SPIDER jobs of that spider."""
        f = JobFilter(
            viewer=None, type=type, status=status, priority=priority, user_id=user_id,
            parent_job_id=parent_job_id, is_done=is_done,
            category=category.value if category else None, since_ms=_since(range),
            spider_id=spider_id,
        )  # fmt: skip
        extras = parse_include(include)
        total, rows = await jobs.list_jobs(user, f, offset, limit)
        if extras:
            items = [await view(jobs.db, r, extras) for r in rows]
        else:
            items = [Job.of(r) for r in rows]
        return Page.of(total, offset, limit, items)

    @get("/job/{job_id:str}")
    async def get_job(
        self, user: CurrentUser, jobs: Jobs, job_id: JobIdPath,
        include: FromQuery[str | None] = None, as_of: AsOf = None, at: AtMs = None,
    ) -> Job:  # fmt: skip
        """One job; poll it for progress. `include=stats,progress,logs` adds
        the domain-crawl jobs API's stats and progress and the categorised jobs API's logs.

        With `as_of` (a log sequence) or `at` (ms), the job as it was then, folded from the log.
        Admins also see deleted jobs (`deleted: true`).
        """
        extras = parse_include(include)
        point = parse_point(as_of, at, extras)
        if point is None:
            return await view(jobs.db, await jobs.get(user, job_id, audit=True), extras)
        state, history = await jobs.job_at(user, job_id, seq=point.seq, at=point.at)
        return past_view(state, history, extras)

    @get("/events")
    async def log_events(
        self, user: CurrentUser, jobs: Jobs, from_seq: AuditParam = None,
        limit: AuditParam = None, job_id: AuditParam = None, kind: AuditParam = None,
    ) -> AuditPage:  # fmt: skip
        """The event log as audit records, ascending by sequence; `limit` at most 1000.

        Admins see every event, users those of their own jobs. Page on with
        `from_seq=next_seq` while `has_more`; `next_seq` also serves to poll for new events.
        """
        f, size = event_query(from_seq, limit, job_id, kind)
        rows = await jobs.log_events(user, f, size + 1)
        page = rows[:size]
        next_seq = page[-1].seq + 1 if page else f.from_seq
        items = [AuditEvent.of(r) for r in page]
        return AuditPage(items=items, next_seq=next_seq, has_more=len(rows) > size)

    @get("/job/{job_id:str}/events")
    async def job_events(
        self,
        user: CurrentUser,
        jobs: Jobs,
        job_id: JobIdPath,
        offset: Offset = 0,
        limit: Limit = 20,
    ) -> Page[JobEvent]:
        """The job's full history in log order: the audit trail."""
        total, rows = await jobs.events(user, job_id, offset, limit)
        return Page.of(total, offset, limit, [JobEvent.of(r) for r in rows])

    @post("/job/{job_id:str}/cancel", status_code=200)
    async def cancel_job(self, user: CurrentUser, jobs: Jobs, job_id: JobIdPath) -> bool:
        """Cancel a pending (at once) or running (cooperatively) job; 409 when finished."""
        await jobs.cancel(user, job_id)
        return True

    @post("/job/{job_id:str}/replay", status_code=201)
    async def replay_job(self, user: CurrentUser, jobs: Jobs, job_id: JobIdPath) -> Job:
        """A new job with the same type and parameters, linked by `extra.replay_of`."""
        return Job.of(await jobs.replay(user, job_id))

    @delete("/job/{job_id:str}", status_code=200)
    async def delete_job(
        self, user: CurrentUser, runtime: RuntimeDep, job_id: JobIdPath,
        purge: FromQuery[bool] = False,
    ) -> bool | Purged:  # fmt: skip
        """Hide the job from every read (stopping it first); its history stays in the log.

        `purge=true` (admins only) instead erases a finished job's history and result bodies,
        with its batch's children; 409 while any of them has not finished.
        """
        jobs = runtime.jobs
        if not purge:
            await jobs.delete(user, job_id)
            return True
        done = await jobs.purge(user, job_id, runtime.nc)
        return Purged(
            job_ids=done.job_ids, events_erased=done.events_erased,
            results_erased=done.results_erased,
        )  # fmt: skip

    @post("/job/create/fetch-novel", status_code=201)
    async def fetch_novel(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        runtime: RuntimeDep,
        data: JSONBody[FetchNovelBody],
        idempotency_key: IdemKey,
    ) -> Job:
        """NOVEL for `url` (FULL_NOVEL with `full: true`); with `urls`, a NOVEL_BATCH
        (FULL_NOVEL_BATCH) of one child per URL. The source reading each novel is resolved
        now, by its host or by `source`: 422 naming `url` (`urls`, `source`) when none
        would, saying how to add one (see `GET /api/sources`)."""
        data = await strict_body(request, FetchNovelBody)
        new = novel_job(runtime.sources, data)
        return Job.of(await runtime.jobs.create(user, _with(new, data), idempotency_key))

    @get("/sources", tags=["novels"])
    async def list_sources(self, user: CurrentUser, runtime: RuntimeDep) -> list[SourceInfo]:
        """The novel sources this server reads with: name, the hosts bound to it (a source
        with none is used only when a fetch-novel names it), and where it comes from
        (`builtin`, `plugin` or `config`)."""
        return runtime.sources.describe()

    @post("/job/create/fetch-volumes", status_code=201)
    async def fetch_volumes(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        jobs: Jobs,
        data: JSONBody[FetchVolumesBody],
        idempotency_key: IdemKey,
    ) -> Job:
        """A VOLUME per volume id of the caller's library (several: a VOLUME_BATCH), its
        chapters resolved now; 422 naming `volumes` for an id not there."""
        data = await strict_body(request, FetchVolumesBody)
        library = Library(jobs.db, viewer_of(user))
        new = await volumes_job(library, data.volumes, data.refresh)
        return Job.of(await jobs.create(user, _with(new, data), idempotency_key))

    @post("/job/create/fetch-chapters", status_code=201)
    async def fetch_chapters(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        jobs: Jobs,
        data: JSONBody[FetchChaptersBody],
        idempotency_key: IdemKey,
    ) -> Job:
        """A CHAPTER per chapter id of the caller's library (several: a CHAPTER_BATCH); 422
        naming `chapters` for an id not there."""
        data = await strict_body(request, FetchChaptersBody)
        library = Library(jobs.db, viewer_of(user))
        new = await chapters_job(library, data.chapters, data.refresh)
        return Job.of(await jobs.create(user, _with(new, data), idempotency_key))

    @post("/job/create/fetch-images", status_code=201)
    async def fetch_images(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        jobs: Jobs,
        data: JSONBody[FetchImagesBody],
        idempotency_key: IdemKey,
    ) -> Job:
        """An IMAGE per image id of the caller's library (several: an IMAGE_BATCH); 422
        naming `images` for an id not there."""
        data = await strict_body(request, FetchImagesBody)
        new = await images_job(Library(jobs.db, viewer_of(user)), data.images, data.refresh)
        return Job.of(await jobs.create(user, _with(new, data), idempotency_key))

    @post("/job/create/make-artifacts", status_code=201)
    async def make_artifacts(
        self,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        jobs: Jobs,
        data: JSONBody[MakeArtifactsBody],
        idempotency_key: IdemKey,
    ) -> Job:
        """E-books of a novel in the caller's library: one ARTIFACT per format, several
        formats make an ARTIFACT_BATCH. The finished ARTIFACT's `extra.artifact_id` names the
        file. 422 for an unknown novel or format, or one this server cannot make; 403 for a
        format above the caller's tier."""
        data = await strict_body(request, MakeArtifactsBody)
        formats = list(dict.fromkeys(data.formats))
        _check_formats(user, formats)
        _check_makeable(formats)
        new = await _artifact_job(jobs, user, data.novel_id, formats)
        return Job.of(await jobs.create(user, _with(new, data), idempotency_key))
