"""A job's results as files: every result, its broken links, its slow pages or (a SPIDER
job's) its items, as CSV or JSON Lines, streamed a batch of rows at a time.

An export reads the read model in batches of `BATCH` rows (keyset on the log sequence) and,
for `results`, each batch's bodies from the result store, so a job of 10,000 pages is never
held in memory at once. Rows recorded while an export streams may appear in it.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiosqlite
import msgspec

from engine.jetstream.results import ResultStore
from projections import queries
from projections.items import items_after

ExportType = Literal["results", "broken-links", "slow-pages", "items"]
ExportFormat = Literal["csv", "jsonl"]
BATCH = 200
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


class PageResult(msgspec.Struct, frozen=True, kw_only=True):
    """One fetched URL with its body: `found_on` is the crawled page whose links led to it
    first (null for the start URL, sitemap entries and scrapes)."""

    url: str
    final_url: str | None
    status_code: int
    ok: bool
    error: str | None
    title: str | None
    description: str | None
    markdown: str | None
    html: str | None
    text: str | None
    links: list[str]
    duration_ms: int
    bytes: int
    content_type: str | None
    scraped_at: int
    found_on: str | None = None


class ListedUrl(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the broken-links and slow-pages exports."""

    url: str
    status_code: int
    error: str | None
    duration_ms: int
    found_on: str | None


def page_result(row: queries.ResultRow, body: dict[str, Any] | None) -> PageResult:
    """A result row with its stored body (None: no body stored, the row's fields only)."""
    b = body or {}
    return PageResult(
        url=row.url, final_url=b.get("final_url"), status_code=row.status, ok=row.ok,
        error=row.error, title=b.get("title"), description=b.get("description"),
        markdown=b.get("markdown"), html=b.get("html"), text=b.get("text"),
        links=b.get("links") or [], duration_ms=int(row.meta.get("duration_ms") or 0),
        bytes=int(row.meta.get("bytes") or 0), content_type=b.get("content_type"),
        scraped_at=int(row.meta.get("scraped_at") or 0), found_on=row.meta.get("found_on"),
    )  # fmt: skip


def listed_url(row: queries.ResultRow) -> ListedUrl:
    return ListedUrl(
        url=row.url, status_code=row.status, error=row.error,
        duration_ms=int(row.meta.get("duration_ms") or 0), found_on=row.meta.get("found_on"),
    )  # fmt: skip


async def bodies(store: ResultStore, rows: list[queries.ResultRow]) -> list[dict[str, Any] | None]:
    """Each row's stored body (None without a key), read concurrently, in row order.

    Every read is awaited before the first failure (in row order) is raised, so none is left
    running or unretrieved.
    """

    async def one(key: str | None) -> dict[str, Any] | None:
        return await store.get(key) if key else None

    found = await asyncio.gather(*(one(r.result_key) for r in rows), return_exceptions=True)
    for item in found:
        if isinstance(item, BaseException):
            raise item
    return [item for item in found if not isinstance(item, BaseException)]


def file_name(job_id: str, kind: ExportType, fmt: ExportFormat) -> str:
    """The download's name, e.g. `job-01J...-results.jsonl` (job ids are ULIDs: ASCII)."""
    return f"job-{job_id}-{kind}.{fmt}"


_COLUMNS: dict[bool, tuple[str, ...]] = {
    True: PageResult.__struct_fields__,
    False: ListedUrl.__struct_fields__,
}
_encode = msgspec.json.Encoder().encode


def _csv_line(values: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue().encode()


# A spreadsheet opening the CSV runs a cell starting with one of these as a formula: a page's
# title is the site's text, so `=HYPERLINK(...)` from a scraped page must stay text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell: links one per line, null as empty, booleans as true/false, and text that a
    spreadsheet would read as a formula prefixed with `'` (the JSON Lines export is as-is)."""
    if isinstance(value, list):
        value = "\n".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def encode_rows(items: list[PageResult] | list[ListedUrl], fmt: ExportFormat) -> bytes:
    """`items` as JSON Lines or CSV rows (no header), one line (record) per item."""
    if fmt == "jsonl":
        return b"".join(_encode(item) + b"\n" for item in items)
    out = io.StringIO()
    writer = csv.writer(out)
    for item in items:
        writer.writerow([_cell(v) for v in msgspec.structs.astuple(item)])
    return out.getvalue().encode()


class ExportedItem(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the items export: the page the item came from and its fields (in CSV, its
    fields as one JSON object)."""

    url: str
    data: dict[str, Any]


def default_format(kind: ExportType) -> ExportFormat:
    """The format of an export that names none: items as JSON Lines, the rest as CSV."""
    return "jsonl" if kind == "items" else "csv"


async def item_chunks(
    db: aiosqlite.Connection, job_id: str, fmt: ExportFormat
) -> AsyncIterator[bytes]:
    """A SPIDER job's items in log order, `BATCH` a chunk; CSV: `url,data` (data as JSON)."""
    if fmt == "csv":
        yield _csv_line(list(ExportedItem.__struct_fields__))
    after = 0
    while rows := await items_after(db, job_id, after, BATCH):
        items = [ExportedItem(url=r.url, data=r.data) for r in rows]
        if fmt == "jsonl":
            yield b"".join(_encode(item) + b"\n" for item in items)
        else:
            yield b"".join(_csv_line([i.url, _encode(i.data).decode()]) for i in items)
        after = rows[-1].seq


async def export_chunks(
    db: aiosqlite.Connection, store: ResultStore, job_id: str, kind: ExportType,
    fmt: ExportFormat,
) -> AsyncIterator[bytes]:  # fmt: skip
    """The export's bytes: a CSV header line first, then one chunk per batch of rows."""
    if kind == "items":
        async for chunk in item_chunks(db, job_id, fmt):
            yield chunk
        return
    if fmt == "csv":
        yield _csv_line(list(_COLUMNS[kind == "results"]))
    after = -1
    while True:
        rows = await queries.results_after(db, job_id, kind, after, BATCH)
        if not rows:
            return
        if kind == "results":
            found = await bodies(store, rows)
            pages = [page_result(r, b) for r, b in zip(rows, found, strict=True)]
            yield encode_rows(pages, fmt)
        else:
            yield encode_rows([listed_url(r) for r in rows], fmt)
        after = rows[-1].seq
