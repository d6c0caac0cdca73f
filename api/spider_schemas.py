"""Request and response bodies of the spider routes (issue 13; ScrapeThis' spider fields)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from api.schemas import JobId, PriorityValue, Url
from engine.crawl.models import MAX_CONCURRENCY
from engine.spiders.model import NAME_PATTERN, ArgumentSpec, SpiderDefinition

SPIDER_ID_PATTERN = r"^(sp_[0-7][0-9A-HJKMNP-TV-Z]{25}|pl_[a-z0-9][a-z0-9-]{0,63})$"
SpiderId = Annotated[
    str,
    Meta(
        pattern=SPIDER_ID_PATTERN, min_length=4, max_length=67,
        description="A spider id: `sp_` and a ULID, or `pl_` and an installed spider's name.",
    ),
]  # fmt: skip
SpiderName = Annotated[str, Meta(pattern=NAME_PATTERN, description="A spider's name.")]
Arguments = Annotated[dict[str, Any], Meta(max_length=50, description="Argument values by name.")]
MAX_SPIDER_PAGES = 1_000_000
MAX_DELAY_MS = 600_000


class SpiderSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A spider as listed. `origin`: `user` (defined over the API, versioned from 1) or
    `plugin` (installed by the operator: read-only, no owner, no times); times in ms."""

    id: str
    name: str
    version: int
    description: str
    arguments: dict[str, ArgumentSpec]
    created_at: int | None
    updated_at: int | None
    user_id: str | None
    origin: Literal["user", "plugin"]


class Spider(SpiderSummary, frozen=True, kw_only=True):
    """A spider with its definition (the current version)."""

    definition: SpiderDefinition


class SpiderJobBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/job/create/spider`: the spider by `spider_id` or by `spider_name` (the
    caller's spider of that name, else an installed one), its `arguments`, and the run's
    bounds; numbers and booleans must be JSON ones."""

    spider_id: SpiderId | None = None
    spider_name: SpiderName | None = None
    arguments: Arguments = {}
    max_pages: Annotated[int, Meta(ge=1, le=MAX_SPIDER_PAGES)] = 1000
    concurrency: Annotated[int, Meta(ge=1, le=MAX_CONCURRENCY)] = 8
    respect_robots: bool = True
    delay_ms: Annotated[int, Meta(ge=0, le=MAX_DELAY_MS, description="Per host.")] = 0
    priority: PriorityValue | None = None
    depends_on: JobId | None = None


class SpiderTestBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/spiders/{id}/test`: one page to run the spider's rules on, and the
    arguments a run would get (they decide the hosts whose links count)."""

    url: Url
    arguments: Arguments = {}


class ScrapedItem(msgspec.Struct, frozen=True, kw_only=True):
    """One item: the page it came from and its fields."""

    url: str
    data: dict[str, Any]


class SpiderTest(msgspec.Struct, frozen=True, kw_only=True):
    """A dry run on one page: what a job would record for it. `rule`: the index of the
    rule that applied (null: none matches the URL); `dropped`: items missing a required
    field; `links`: the links a job would follow; `status_code`: the page's."""

    url: str
    status_code: int
    rule: int | None
    items: list[ScrapedItem]
    links: list[str]
    dropped: int
