"""Request and response bodies of the HTTP API (lncrawl's Jobs API, field for field)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec
from msgspec import Meta

from engine.crawl.errors import InvalidUrl
from engine.crawl.urls import parse_url
from engine.domain.ids import JOB_ID_PATTERN
from engine.domain.model import JobType
from projections.queries import CrawlStats, EventRow, JobRow

T = TypeVar("T")

# The shape of an http(s) URL; a body holding one also checks it with `checked_url`.
Url = Annotated[
    str,
    Meta(
        pattern=r"^https?://[^\s/$.?#][^\s]*$", max_length=4096,
        description="An http or https URL the crawler can parse: a host, a port 1-65535.",
    ),
]  # fmt: skip
ItemId = Annotated[str, Meta(min_length=1, max_length=200)]
# the words the CLI, the dashboard and SSE frames' `status_name` use for these numbers
_TYPES = ", ".join(f"{int(t)} {t.name.lower()}" for t in JobType)
JobId = Annotated[
    str, Meta(min_length=26, max_length=26, pattern=JOB_ID_PATTERN, description="A job id (ULID).")
]
PriorityValue = Annotated[int, Meta(ge=0, le=2)]
Items = Annotated[list[ItemId], Meta(min_length=1, max_length=10_000)]


def checked_url(url: str, at: str, *, noun: str = "URL") -> str:
    """`url` in canonical form, as the crawler's parser (`parse_url`) reads it.

    When the parser refuses `url`, raises ValueError naming the JSON path `at` (e.g.
    "urls[3]") in msgspec's words ("at `$.urls[3]`"): raised in a body's `__post_init__`,
    msgspec reports it and api.errors answers a 422 for that field.
    """
    try:
        return parse_url(url)
    except InvalidUrl as e:
        raise ValueError(f"invalid {noun} at `$.{at}`: {e}") from e


class _Create(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Options every create endpoint accepts besides its own fields."""

    priority: PriorityValue | None = None
    depends_on: JobId | None = None
    parent_job_id: JobId | None = None


SourceName = Annotated[str, Meta(min_length=1, max_length=100)]


class FetchNovelBody(_Create, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One novel (`url`) or several (`urls`); `source` names the source that reads them,
    else each URL's host picks one."""

    url: Url | None = None
    urls: Annotated[list[Url], Meta(min_length=1, max_length=1000)] | None = None
    full: bool = False
    source: SourceName | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.urls is None):
            raise ValueError("give either `url` or `urls` - at `$.url`")
        if self.url is not None:
            checked_url(self.url, "url")
        for i, url in enumerate(self.urls or ()):
            checked_url(url, f"urls[{i}]")


class FetchVolumesBody(_Create, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Volumes of the caller's library, by id; `refresh` fetches chapters already stored too."""

    volumes: Items
    refresh: bool | None = None


class FetchChaptersBody(_Create, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Chapters of the caller's library, by id; `refresh` fetches chapters already stored too
    (by default, one chapter asked for alone is fetched again, several are not)."""

    chapters: Items
    refresh: bool | None = None


class FetchImagesBody(_Create, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Images of the caller's library, by id; `refresh` fetches images already stored too
    (by default, one image asked for alone is fetched again, several are not)."""

    images: Items
    refresh: bool | None = None


class MakeArtifactsBody(_Create, frozen=True, kw_only=True, forbid_unknown_fields=True):
    novel_id: ItemId
    formats: Annotated[list[Annotated[str, Meta(max_length=20)]], Meta(min_length=1, max_length=20)]


class TaskProgress(msgspec.Struct, frozen=True, kw_only=True):
    """The domain-crawl jobs API's progress object: `progress` with `include=progress`."""

    total_tasks: int
    completed_tasks: int
    failed_tasks: int
    skipped_tasks: int
    percentage: float


class LogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A log entry as the categorised jobs API with logs serves it."""

    timestamp: int
    level: str
    message: str


class SpiderRef(msgspec.Struct, frozen=True, kw_only=True):
    """The spider a SPIDER job runs: its id and its name when the job was made."""

    id: str
    name: str


class Job(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A job as clients see it; timestamps are milliseconds since the epoch.

    `spider` names a SPIDER job's spider (null for other types), `items_scraped` counts its
    items (0 for other types), as ScrapeThis' jobs do.

    `stats` and `logs` appear only when asked for with `include=`; with `include=progress`,
    `progress` is the domain-crawl jobs API's object instead of lncrawl's whole percentage.
    `deleted` appears (true) only when an admin reads a deleted job. `read_model_behind`
    appears (true) only in a create's answer when the job was appended to the log but this
    node's read model did not show it in time: the job exists and runs, a read of it may
    answer 404 for a moment.
    """

    id: str
    user_id: str
    parent_job_id: str | None
    depends_on: str | None
    type: Annotated[int, Meta(description=_TYPES)]
    priority: Annotated[int, Meta(description="0 low, 1 normal, 2 high")]
    status: Annotated[
        int, Meta(description="0 pending, 1 running, 2 success, 3 failed, 4 canceled")
    ]
    is_done: bool
    is_running: bool
    is_pending: bool
    error: str | None
    done: int
    failed: int
    total: int
    progress: int | TaskProgress
    job_title: str
    started_at: int | None
    finished_at: int | None
    created_at: int
    updated_at: int
    extra: dict[str, Any]
    category: str
    spider: SpiderRef | None
    items_scraped: int
    stats: CrawlStats | None = None
    logs: list[LogEntry] | None = None
    deleted: bool = False
    read_model_behind: bool = False

    @classmethod
    def of(cls, row: JobRow) -> Job:
        return cls(
            id=row.id,
            user_id=row.user_id,
            parent_job_id=row.parent_job_id,
            depends_on=row.depends_on,
            type=row.type,
            priority=row.priority,
            status=row.status,
            is_done=row.status >= 2,
            is_running=row.status == 1,
            is_pending=row.status == 0,
            error=row.error,
            done=row.done,
            failed=row.failed,
            total=row.total,
            progress=row.progress,
            job_title=row.job_title,
            started_at=row.started_at,
            finished_at=row.finished_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            extra=row.extra,
            category=row.category,
            spider=_spider_ref(row),
            items_scraped=row.items_scraped,
            deleted=row.deleted,
            read_model_behind=isinstance(row, AppendedRow),
        )


class AppendedRow(JobRow, frozen=True, kw_only=True):
    """A job as its create appended it (see `row_of`), answered when the read model did not
    show it in time."""


def _spider_ref(row: JobRow) -> SpiderRef | None:
    if row.spider_id is None:
        return None
    return SpiderRef(id=row.spider_id, name=row.spider_name or "")


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """A page of a longer list; `has_more` when items lie beyond it (ask with a larger
    `offset`)."""

    total: int
    offset: int
    limit: int
    has_more: bool
    items: list[T]

    @classmethod
    def of(cls, total: int, offset: int, limit: int, items: list[T]) -> Page[T]:
        """The page of `items` at `offset` of `total`, `has_more` when items lie beyond."""
        more = offset + len(items) < total
        return cls(total=total, offset=offset, limit=limit, has_more=more, items=items)


class JobEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a job's audit trail: log sequence, event kind, ms time, actor, data."""

    sequence: int
    kind: str
    time: int
    actor: str
    data: dict[str, Any]

    @classmethod
    def of(cls, row: EventRow) -> JobEvent:
        return cls(sequence=row.seq, kind=row.kind, time=row.at, actor=row.actor, data=row.data)


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One record of the audit log: sequence, job, event kind, ms time, actor, event data."""

    seq: int
    job_id: str
    kind: str
    at: int
    actor: str
    data: dict[str, Any]

    @classmethod
    def of(cls, row: EventRow) -> AuditEvent:
        return cls(**msgspec.structs.asdict(row))  # the same fields, served as they are stored


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the audit log; ask again with `from_seq=next_seq` while `has_more`."""

    items: list[AuditEvent]
    next_seq: int
    has_more: bool


class Purged(msgspec.Struct, frozen=True, kw_only=True):
    """What `DELETE /api/job/{id}?purge=true` erased: the job and its batch's children."""

    job_ids: list[str]
    events_erased: int
    results_erased: int


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """A node's readiness (api/health.py): `status` "ok" or "unavailable"; `can_append`
    when the JOBS stream answers with a leader; `lag_events` and `lag_s`, how far the read
    model (`projector`, applied up to `checkpoint`) is behind the log."""

    status: str
    nats: bool
    projector: bool
    checkpoint: int
    can_append: bool = False
    lag_events: int = 0
    lag_s: float = 0.0


class Liveness(msgspec.Struct, frozen=True, kw_only=True):
    """The process answers: `status` is "ok"."""

    status: str


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every error response: HTTP status, a message naming the offending field, the field."""

    status_code: int
    detail: str
    field: str | None = None


class StreamToken(msgspec.Struct, frozen=True, kw_only=True):
    """A signed token for `?token=` on stream endpoints; `expires_at` in ms since the epoch."""

    token: str
    expires_at: int


class WebhookBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/webhooks`: where to send which events (job.started, job.page, ...)."""

    url: Annotated[str, Meta(max_length=4096)]
    events: Annotated[list[Annotated[str, Meta(max_length=40)]], Meta(max_length=20)]
    description: Annotated[str, Meta(max_length=500)] | None = None


class WebhookView(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook as listed: never its secret. `created_at` in ms."""

    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: int


class NewWebhook(WebhookView, frozen=True, kw_only=True):
    """The created webhook with its signing secret, shown this once (`whsec_...`)."""

    secret: str


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery attempt; times in ms. `outcome`: delivered, retrying or failed."""

    message_id: str
    event_type: str
    job_id: str
    attempt: int
    at: int
    status_code: int | None
    error: str | None
    duration_ms: int
    outcome: str
    next_attempt_at: int | None
