"""Scrape and crawl jobs, results, logs, retry and exports.

Scrapes follow Reader's batch mode, crawls the domain-crawl jobs API; results and retry are
Reader's, logs the categorised jobs API's, stats and exports the domain-crawl API's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromQuery, JSONBody
from litestar.response import Stream
from msgspec import Meta

from api.bodies import strict_body
from api.deps import Jobs, RuntimeDep
from api.exports import (
    MEDIA_TYPES,
    ExportFormat,
    ExportType,
    PageResult,
    bodies,
    default_format,
    export_chunks,
    file_name,
    page_result,
)
from api.ids import JobIdPath
from api.includes import log_entries
from api.jobs import NewJob
from api.routes import CurrentUser, IdemKey, Limit, Offset
from api.schemas import Job, JobId, LogEntry, PriorityValue, Url, checked_url
from engine.crawl.batch import BATCH_CONCURRENCY
from engine.crawl.errors import CrawlError
from engine.crawl.models import MAX_CONCURRENCY, CrawlOptions
from engine.domain.errors import InvalidCommand
from engine.domain.model import JobType
from projections import queries

Format = Literal["markdown", "html", "text", "links"]
Glob = Annotated[str, Meta(max_length=500)]
Globs = Annotated[list[Glob], Meta(max_length=100, description="At most 100 path globs.")]
Formats = Annotated[list[Format], Meta(min_length=1, max_length=4)]
# Upper bounds of a crawl: beyond them a request is a mistake more likely than a plan.
MAX_PAGES = 1_000_000
MAX_DEPTH = 1_000
MAX_DELAY_MS = 600_000
# A batch scrape's URLs: one job holds them all in its `created` event, so they must fit
# in one NATS message (with room for the rest of the event).
MAX_BATCH_URLS = 10_000


def _formats() -> list[Format]:
    return ["markdown", "links"]


class ScrapeBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/job/create/scrape`. Each URL must also pass the crawler's parser (a 422
    for field `urls` names the index, e.g. `urls[3]`); numbers must be JSON numbers. A URL
    given twice is scraped once. `concurrency`: a batch's fetches in flight."""

    urls: Annotated[list[Url], Meta(min_length=1, max_length=MAX_BATCH_URLS)]
    formats: Formats = msgspec.field(default_factory=_formats)
    concurrency: Annotated[int, Meta(ge=1, le=MAX_CONCURRENCY)] = BATCH_CONCURRENCY
    priority: PriorityValue | None = None
    depends_on: JobId | None = None


class CrawlBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/job/create/crawl`: exactly one of `domain` (crawled from
    `https://<domain>/`, or `http://<domain>/` when https cannot connect there and http
    answers) and `url`, either checked by the crawler's parser; bounds as declared
    (`max_pages` 0 means no limit, `max_depth` none means no limit); numbers and booleans
    must be JSON ones."""

    domain: Annotated[str, Meta(max_length=253, pattern=r"^[A-Za-z0-9.-]+(:\d+)?$")] | None = None
    url: Url | None = None
    use_sitemap: bool = True
    find_links: bool = True
    include_subdomains: bool = False
    max_pages: Annotated[int, Meta(ge=0, le=MAX_PAGES, description="0: no limit.")] = 0
    max_depth: Annotated[int, Meta(ge=0, le=MAX_DEPTH, description="Link hops.")] | None = None
    concurrency: Annotated[int, Meta(ge=1, le=MAX_CONCURRENCY)] = 20
    include_paths: Globs = []
    exclude_paths: Globs = []
    respect_robots: bool = True
    delay_ms: Annotated[int, Meta(ge=0, le=MAX_DELAY_MS, description="Per host.")] = 0
    formats: Formats = msgspec.field(default_factory=_formats)
    source_type: Annotated[str, Meta(max_length=100)] | None = None
    source_detail: Annotated[str, Meta(max_length=500)] | None = None
    priority: PriorityValue | None = None
    depends_on: JobId | None = None


class ResultsPage(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    offset: int
    limit: int
    has_more: bool
    items: list[PageResult]


def _parsed(url: str, field: str, at: str | None = None, noun: str = "URL") -> str:
    """`url` as the crawler's parser reads it; InvalidCommand (a 422) for `field` naming the
    JSON path `at` (e.g. "urls[3]") when the parser refuses it.

    The create routes call it once per URL on the body `strict_body` decoded: a
    `__post_init__` would also run for the lax decode Litestar makes first.
    """
    try:
        return checked_url(url, at or field, noun=noun)
    except ValueError as e:
        raise InvalidCommand(f"{field}: {e}", field=field) from e


def _scrape_urls(body: ScrapeBody, max_bytes: int | None = None) -> list[str]:
    """The body's URLs as given (each once), once each has passed the crawler's parser and
    they take at most `max_bytes` in all (when given)."""
    for index, url in enumerate(body.urls):
        _parsed(url, "urls", f"urls[{index}]")
    size = sum(len(url.encode()) + 3 for url in body.urls)  # quotes and a comma each
    if max_bytes is not None and size > max_bytes:
        raise InvalidCommand(
            f"urls: {size} bytes of URLs, at most {max_bytes} in one batch", field="urls"
        )
    return list(dict.fromkeys(body.urls))


def _scrape_job(body: ScrapeBody, urls: list[str]) -> NewJob:
    """A SCRAPE of one URL, or a SCRAPE_BATCH: one job fetching all of them, `concurrency`
    at a time, one result per URL, progress counted in URLs."""
    if len(urls) == 1:
        return NewJob(
            type=JobType.SCRAPE, params={"urls": urls, "formats": body.formats}, title=urls[0],
            priority=body.priority, depends_on=body.depends_on,
        )  # fmt: skip
    params = {"urls": urls, "formats": body.formats, "concurrency": body.concurrency}
    return NewJob(
        type=JobType.SCRAPE_BATCH, params=params, title=f"{len(urls)} URLs", total=len(urls),
        priority=body.priority, depends_on=body.depends_on,
    )  # fmt: skip


def _crawl_params(body: CrawlBody) -> dict[str, Any]:
    if (body.domain is None) == (body.url is None):
        raise InvalidCommand("domain: give exactly one of domain or url", field="domain")
    if body.url is not None:
        _parsed(body.url, "url")
    root = body.url or f"https://{body.domain}/"
    if body.domain is not None:
        _parsed(root, "domain", noun="domain")
    params = {
        k: v
        for k, v in msgspec.to_builtins(body).items()
        if k not in ("domain", "priority", "depends_on")
    }
    params["url"] = root
    if body.domain is not None:  # no scheme given: http when https cannot connect
        params["http_fallback"] = True
    for key in ("source_type", "source_detail"):
        params.pop(key, None)
    try:
        msgspec.convert(params, CrawlOptions).validate()
    except (msgspec.ValidationError, CrawlError) as e:
        raise InvalidCommand(f"url: {e}", field="url") from e
    return params


class WorkController(Controller):
    path = "/api"
    tags = ["scrape and crawl"]

    @post("/job/create/scrape", status_code=201)
    async def create_scrape(
        self, request: Request[Any, Any, Any], user: CurrentUser, runtime: RuntimeDep,
        data: JSONBody[ScrapeBody], idempotency_key: IdemKey,
    ) -> Job:  # fmt: skip
        """SCRAPE for one URL; for several a SCRAPE_BATCH, one job that fetches them
        `concurrency` at a time and records one result per URL. (`runtime.jobs`, not a
        `jobs` parameter: two dependencies on one level cost Litestar a task group a
        request, a tenth of this route's time.)"""
        data = await strict_body(request, ScrapeBody)
        urls = _scrape_urls(data, runtime.nc.max_payload // 2)
        return Job.of(await runtime.jobs.create(user, _scrape_job(data, urls), idempotency_key))

    @post("/job/create/crawl", status_code=201)
    async def create_crawl(
        self, request: Request[Any, Any, Any], user: CurrentUser, jobs: Jobs,
        data: JSONBody[CrawlBody], idempotency_key: IdemKey,
    ) -> Job:  # fmt: skip
        """CRAWL a whole domain: sitemaps and links, robots.txt and politeness."""
        data = await strict_body(request, CrawlBody)
        params = _crawl_params(data)
        extra = {k: v for k in ("source_type", "source_detail") if (v := getattr(data, k))}
        new = NewJob(
            type=JobType.CRAWL, params=params, title=params["url"], total=0,
            priority=data.priority, depends_on=data.depends_on, extra=extra,
        )  # fmt: skip
        return Job.of(await jobs.create(user, new, idempotency_key))

    @get("/job/{job_id:str}/results")
    async def results(
        self, user: CurrentUser, runtime: RuntimeDep, job_id: JobIdPath,
        offset: Offset = 0, limit: Limit = 20,
    ) -> ResultsPage:  # fmt: skip
        """Page results in crawl order, with their bodies."""
        jobs = runtime.jobs
        await jobs.get(user, job_id)
        total, rows = await queries.job_results(jobs.db, job_id, offset, limit)
        found = await bodies(runtime.results, rows)
        items = [page_result(r, b) for r, b in zip(rows, found, strict=True)]
        more = offset + len(items) < total
        return ResultsPage(total=total, offset=offset, limit=limit, has_more=more, items=items)

    @get("/job/{job_id:str}/logs")
    async def logs(self, user: CurrentUser, jobs: Jobs, job_id: JobIdPath) -> list[LogEntry]:
        """The job's log lines (info, warn, error) in order."""
        await jobs.get(user, job_id)
        return log_entries(await queries.job_logs(jobs.db, job_id))

    @post("/job/{job_id:str}/retry", status_code=200)
    async def retry(self, user: CurrentUser, jobs: Jobs, job_id: JobIdPath) -> Job:
        """Queue a finished job again for its failed URLs or children only; 400 if none."""
        return Job.of(await jobs.retry(user, job_id))

    @get("/job/{job_id:str}/stats")
    async def stats(self, user: CurrentUser, jobs: Jobs, job_id: JobIdPath) -> queries.CrawlStats:
        """The job's crawl statistics, as the domain-crawl jobs API serves them."""
        await jobs.get(user, job_id)
        return await queries.crawl_stats(jobs.db, job_id)

    @get("/job/{job_id:str}/export", response_description="The file, streamed")
    async def export(
        self, user: CurrentUser, runtime: RuntimeDep, job_id: JobIdPath,
        type: FromQuery[ExportType], format: FromQuery[ExportFormat | None] = None,
    ) -> Stream:  # fmt: skip
        """A file of the job's results, streamed: `type=results` every one with its body,
        `broken-links` its failed URLs, `slow-pages` those that took 1 s or more (each row
        with `found_on`, the page whose links led to it), `items` a SPIDER job's items
        (`{url, data}`); `format=csv` (a header line first; the default but for items) or
        `jsonl` (a JSON object a line; the default for items). In CSV, text starting with
        `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a spreadsheet
        shows a scraped page's text instead of running it as a formula. `Content-Disposition`
        names the file."""
        jobs = runtime.jobs
        await jobs.get(user, job_id)
        fmt = format or default_format(type)
        name = file_name(job_id, type, fmt)
        return Stream(
            export_chunks(jobs.db, runtime.results, job_id, type, fmt),
            media_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
