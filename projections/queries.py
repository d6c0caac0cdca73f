"""Reads of the read model. Callers pass the viewer; other users' jobs never come back.

The API shares one connection between concurrent requests, so every read here runs as one
`execute_fetchall`: a cursor still open across an await would hold its read transaction,
and a request reading in between would see that older snapshot, missing its own write.
"""

from __future__ import annotations

from typing import Any

import aiosqlite
import msgspec

_decode_dict = msgspec.json.Decoder(dict[str, Any]).decode


class JobRow(msgspec.Struct, frozen=True, kw_only=True):
    """One job as the read model holds it."""

    id: str
    user_id: str
    parent_job_id: str | None
    depends_on: str | None
    type: int
    priority: int
    status: int
    category: str
    error: str | None
    done: int
    failed: int
    total: int
    skipped: int
    progress: int
    job_title: str
    started_at: int | None
    finished_at: int | None
    created_at: int
    updated_at: int
    extra: dict[str, Any]
    params: dict[str, Any]
    version: int
    deleted: bool = False
    items_scraped: int = 0  # a SPIDER job's items; 0 for other types
    spider_id: str | None = None  # a SPIDER job's spider, from its params at creation
    spider_name: str | None = None


class EventRow(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    job_id: str
    kind: str
    at: int
    actor: str
    data: dict[str, Any]


class JobFilter(msgspec.Struct, frozen=True, kw_only=True):
    """List filters; `viewer` None means an admin (sees everyone's jobs)."""

    viewer: str | None
    type: int | None = None
    status: int | None = None
    priority: int | None = None
    user_id: str | None = None
    parent_job_id: str | None = None
    is_done: bool | None = None
    category: str | None = None
    since_ms: int | None = None
    spider_id: str | None = None


_NAMES = JobRow.__struct_fields__
_COLUMNS = ", ".join(_NAMES)  # the jobs table's columns in JobRow's field order
# The same without the params, read as {}: no view shows them, and a VOLUME_BATCH's list
# every chapter of its novel (900 KB at 6,000 chapters), decoded on every read of the job.
_COLUMNS_BUT_PARAMS = ", ".join("'{}'" if name == "params" else name for name in _NAMES)
_JSON_AT = (_NAMES.index("extra"), _NAMES.index("params"))  # stored as JSON text
_DELETED_AT = _NAMES.index("deleted")  # stored as 0/1
_JOBS_ORDER = "created_at DESC, id DESC"


def _job(row: tuple[Any, ...]) -> JobRow:
    values = list(row)
    for i in _JSON_AT:
        values[i] = _decode_dict(values[i])
    values[_DELETED_AT] = bool(values[_DELETED_AT])
    return JobRow(**dict(zip(_NAMES, values, strict=True)))


def _where(f: JobFilter) -> tuple[str, list[Any]]:
    clauses, args = ["deleted = 0"], []
    simple = {"type": f.type, "status": f.status, "priority": f.priority, "user_id": f.user_id}
    simple |= {"category": f.category, "user_id_viewer": f.viewer, "spider_id": f.spider_id}
    for name, value in simple.items():
        if value is not None:
            clauses.append(f"{name.removesuffix('_viewer')} = ?")
            args.append(value)
    if f.parent_job_id is None:
        clauses.append("parent_job_id IS NULL")
    else:
        clauses.append("parent_job_id = ?")
        args.append(f.parent_job_id)
    if f.is_done is not None:
        clauses.append("status >= 2" if f.is_done else "status < 2")
    if f.since_ms is not None:
        clauses.append("created_at >= ?")
        args.append(f.since_ms)
    return " AND ".join(clauses), args


async def list_jobs(
    db: aiosqlite.Connection, f: JobFilter, offset: int, limit: int
) -> tuple[int, list[JobRow]]:
    """Matching jobs newest first, and how many match in all."""
    sql, args = jobs_page_sql(f)
    total, rows = await _counted_rows(db, sql, args, limit, offset)
    return total, [_job(r) for r in rows]


async def _counted_page(
    db: aiosqlite.Connection, table: str, columns: str, where: str, args: list[Any],
    order: str, limit: int, offset: int,
) -> tuple[int, list[tuple[Any, ...]]]:  # fmt: skip
    """How many rows match, and one page of them, from one statement: one snapshot.

    A count and a select as two statements can straddle a commit of the projector and then
    disagree (a `total` smaller than the page). The LEFT JOIN yields one all-NULL page row
    when the page is empty, so the count comes back even then.
    """
    sql = counted_page_sql(table, columns, where, order)
    return await _counted_rows(db, sql, args, limit, offset)


async def _counted_rows(
    db: aiosqlite.Connection, sql: str, args: list[Any], limit: int, offset: int
) -> tuple[int, list[tuple[Any, ...]]]:
    """The count and the page rows of a `counted_page_sql` statement run with `args`."""
    rows = [tuple(r) for r in await db.execute_fetchall(sql, [*args, limit, offset, *args])]
    total = int(rows[0][0]) if rows else 0
    return total, [r[1:] for r in rows if r[1] is not None]


def counted_page_sql(table: str, columns: str, where: str, order: str) -> str:
    """The statement of `_counted_page`; its arguments: `where`'s, limit, offset, `where`'s."""
    return (
        f"WITH page AS (SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} "
        f"LIMIT ? OFFSET ?) SELECT (SELECT count(*) FROM {table} WHERE {where}), page.* "
        f"FROM (SELECT 1) LEFT JOIN page ORDER BY {order}"
    )


def jobs_page_sql(f: JobFilter) -> tuple[str, list[Any]]:
    """The statement `list_jobs` runs for `f`, and its arguments but limit and offset."""
    where, args = _where(f)
    return counted_page_sql("jobs", _COLUMNS_BUT_PARAMS, where, _JOBS_ORDER), args


async def get_job(
    db: aiosqlite.Connection, job_id: str, viewer: str | None, *, with_deleted: bool = False,
    with_params: bool = False,
) -> JobRow | None:  # fmt: skip
    """The job, unless deleted (but `with_deleted`) or, for a non-admin viewer, someone
    else's; its `params` are {} unless `with_params`."""
    columns = _COLUMNS if with_params else _COLUMNS_BUT_PARAMS
    sql = f"SELECT {columns} FROM jobs WHERE id = ?" + ("" if with_deleted else " AND deleted = 0")
    rows = list(await db.execute_fetchall(sql, (job_id,)))
    if not rows:
        return None
    job = _job(tuple(rows[0]))
    return None if viewer is not None and job.user_id != viewer else job


async def count_unfinished_roots(db: aiosqlite.Connection, user_id: str) -> int:
    """How many of the user's root jobs are pending or running: a batch counts once (its
    children have a parent), a deleted job while it still runs."""
    sql = "SELECT count(*) FROM jobs WHERE user_id = ? AND parent_job_id IS NULL AND status < 2"
    [row] = list(await db.execute_fetchall(sql, (user_id,)))
    return int(row[0])


async def job_events(
    db: aiosqlite.Connection, job_id: str, offset: int, limit: int
) -> tuple[int, list[EventRow]]:
    """The job's history in log order."""
    columns = "seq, job_id, kind, at, actor, data"
    total, rows = await _counted_page(
        db, "job_events", columns, "job_id = ?", [job_id], "seq", limit, offset
    )
    return total, [_event(r) for r in rows]


def _event(r: Any) -> EventRow:
    return EventRow(seq=r[0], job_id=r[1], kind=r[2], at=r[3], actor=r[4], data=_decode_dict(r[5]))


class EventFilter(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the audit log: from `from_seq` on, optionally one job and one kind.

    `viewer` None means an admin (every event, deleted jobs' included); a user sees only
    events of their own jobs that are not deleted.
    """

    viewer: str | None
    from_seq: int = 0
    job_id: str | None = None
    kind: str | None = None


async def log_events(db: aiosqlite.Connection, f: EventFilter, limit: int) -> list[EventRow]:
    """Up to `limit` events matching `f`, ascending by sequence.

    This reads the read model's `job_events`, not the JetStream log: the projector stores
    every event of every kind there (all but those of purged jobs, and of histories the state
    machine rejects), and only the read model knows each event's owner, so user isolation is
    one indexed join here while the log would have to be scanned and every job folded. The
    price: the audit is as current as this node's checkpoint, which every write waits for.
    """
    clauses, args = ["e.seq >= ?"], list[Any]([f.from_seq])
    join = ""
    if f.viewer is not None:
        join = "JOIN jobs j ON j.id = e.job_id AND j.user_id = ? AND j.deleted = 0"
        args.insert(0, f.viewer)
    for column, value in (("e.job_id", f.job_id), ("e.kind", f.kind)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    sql = (
        f"SELECT e.seq, e.job_id, e.kind, e.at, e.actor, e.data FROM job_events e {join} "
        f"WHERE {' AND '.join(clauses)} ORDER BY e.seq LIMIT ?"
    )
    return [_event(r) for r in await db.execute_fetchall(sql, [*args, limit])]


async def table_dump(db: aiosqlite.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, ordered: for rebuild-equals-live checks."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    tables = (
        ("jobs", "id"),
        ("job_events", "seq"),
        ("results", "job_id, url"),
        ("items", "seq"),
        ("checkpoint", "id"),
    )
    for table, key in tables:
        async with db.execute(f"SELECT * FROM {table} ORDER BY {key}") as cur:
            out[table] = [tuple(r) async for r in cur]
    return out


class ResultRow(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    seq: int
    ok: bool
    status: int
    error: str | None
    meta: dict[str, Any]
    result_key: str | None


async def job_results(
    db: aiosqlite.Connection, job_id: str, offset: int, limit: int, where: str = "1"
) -> tuple[int, list[ResultRow]]:
    """The job's page results in the order they were first recorded."""
    total, rows = await _counted_page(
        db, "results", _RESULT_COLUMNS, f"job_id = ? AND {where}", [job_id], "seq", limit, offset
    )
    return total, [_result(r) for r in rows]


_RESULT_COLUMNS = "url, seq, ok, status, error, meta, result_key"  # ResultRow's, in order


def _result(r: Any) -> ResultRow:
    return ResultRow(
        url=r[0], seq=r[1], ok=bool(r[2]), status=r[3], error=r[4], meta=_decode_dict(r[5]),
        result_key=r[6],
    )  # fmt: skip


class CrawlStats(msgspec.Struct, frozen=True, kw_only=True):
    """The domain-crawl jobs API's stats, derived from the job's page results."""

    avg_response_time: int
    cache_hit_ratio: float
    total_bytes: int
    broken_links: int
    slow_pages: int


SLOW_PAGE_MS = 1000


async def crawl_stats(db: aiosqlite.Connection, job_id: str) -> CrawlStats:
    sql = (
        "SELECT avg(duration_ms), avg(cache_hit), sum(bytes), "
        "sum(CASE WHEN ok = 0 THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN duration_ms >= {SLOW_PAGE_MS} THEN 1 ELSE 0 END) "
        "FROM results WHERE job_id = ?"
    )
    [r] = list(await db.execute_fetchall(sql, (job_id,)))  # no GROUP BY: always one row
    return CrawlStats(
        avg_response_time=int(r[0] or 0), cache_hit_ratio=float(r[1] or 0.0),
        total_bytes=int(r[2] or 0), broken_links=int(r[3] or 0), slow_pages=int(r[4] or 0),
    )  # fmt: skip


# What each export lists of a job's results: every one, failed URLs, slow pages.
EXPORT_WHERE = {
    "results": "1",
    "broken-links": "ok = 0",
    "slow-pages": f"duration_ms >= {SLOW_PAGE_MS}",
}


async def results_after(
    db: aiosqlite.Connection, job_id: str, kind: str, after_seq: int, limit: int
) -> list[ResultRow]:
    """Up to `limit` of the job's results `kind` (an EXPORT_WHERE key) recorded after log
    sequence `after_seq`, in the order they were recorded: an export pages on with the last
    row's `seq`, so no page is re-counted and no offset is scanned twice."""
    sql = (
        f"SELECT {_RESULT_COLUMNS} FROM results "
        f"WHERE job_id = ? AND seq > ? AND {EXPORT_WHERE[kind]} ORDER BY seq LIMIT ?"
    )
    return [_result(r) for r in await db.execute_fetchall(sql, (job_id, after_seq, limit))]


async def job_logs(db: aiosqlite.Connection, job_id: str) -> list[EventRow]:
    """Every `log` event of the job, ascending by sequence (the caller checked access)."""
    everything = -1  # SQLite's LIMIT for no limit
    return await log_events(db, EventFilter(viewer=None, job_id=job_id, kind="log"), everything)
