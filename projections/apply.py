"""Applying a batch of log events to the read model in one transaction, checkpoint included."""

from __future__ import annotations

import logging
import sqlite3
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import NamedTuple

import aiosqlite
import msgspec

from engine.domain.errors import InvalidHistory
from engine.domain.events import (
    AnyEvent,
    ChaptersStored,
    ItemScraped,
    PageRecorded,
    kind_of,
    to_builtins,
)
from engine.domain.model import CATEGORY_OF, JobType
from engine.domain.progress import progress
from engine.domain.state import JobState, fold
from projections.db_thread import in_thread
from projections.library_apply import apply_library
from projections.queries import _COLUMNS, _JSON_AT, _NAMES, JobRow
from projections.rollup import roll_up
from projections.schema import SCHEMA_VERSION
from projections.state_cache import LOAD, STATE, StateCache

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
# deterministic: a set (a job's URLs) is written in one order however it was built, so the
# state a rebuild writes is byte for byte the one the live projector wrote
_encode_state = msgspec.json.Encoder(order="deterministic").encode
_decode_state = msgspec.json.Decoder(JobState).decode
_PARAMS_AT = _NAMES.index("params")

_MARKS = ",".join("?" * (len(_NAMES) + 1))  # a JobRow's columns, then `state`
_UPSERT = f"""
INSERT INTO jobs ({_COLUMNS}, state) VALUES ({_MARKS})
ON CONFLICT(id) DO UPDATE SET status=excluded.status, error=excluded.error,
    done=excluded.done, failed=excluded.failed, total=excluded.total, skipped=excluded.skipped,
    progress=excluded.progress, started_at=excluded.started_at,
    finished_at=excluded.finished_at, updated_at=excluded.updated_at, deleted=excluded.deleted,
    job_title=excluded.job_title, extra=excluded.extra, version=excluded.version,
    items_scraped=excluded.items_scraped, state=excluded.state
"""


def category_of(job_type: int) -> str:
    try:
        return CATEGORY_OF[JobType(job_type)].value
    except ValueError:
        return "sync"


def row_of(s: JobState) -> JobRow:
    """The read-model row of a job state (what the projector would store for it)."""
    whole = progress(s.status, s.done, s.failed, s.total).whole
    return JobRow(
        id=s.id, user_id=s.user_id, parent_job_id=s.parent_job_id, depends_on=s.depends_on,
        type=s.type, priority=s.priority, status=s.status, category=category_of(s.type),
        error=s.error, done=s.done, failed=s.failed, total=s.total, skipped=s.skipped,
        progress=whole, job_title=s.title, started_at=s.started_at,
        finished_at=s.finished_at, created_at=s.created_at, updated_at=s.updated_at,
        extra=s.extra, params=s.params, version=s.version, deleted=s.deleted,
        items_scraped=s.items, **_spider_of(s),
    )  # fmt: skip


def _spider_of(s: JobState) -> dict[str, str | None]:
    """A SPIDER job's spider id and name, as its params name them (else None)."""
    spider = s.params.get("spider") if s.type == JobType.SPIDER else None
    if not isinstance(spider, dict):
        return {"spider_id": None, "spider_name": None}
    named = {k: spider.get(k) for k in ("id", "name")}
    return {f"spider_{k}": v if isinstance(v, str) else None for k, v in named.items()}


def _row(s: JobState, stored: bool) -> tuple[object, ...]:
    """The `_UPSERT` values: the job's row in `_COLUMNS` order (dicts as JSON), then its state.

    Params never change after the job's creation, and only the row made then is written
    from them (`params`, the spider columns: `_UPSERT` leaves both as they are). So the
    `params` column holds them once and the state is stored without them, and the states
    the projector reads back or remembers have none: a VOLUME_BATCH's params list every
    chapter of its novel, and writing them again on each of its events cost megabytes a
    write. A row already `stored` is sent no params at all."""
    values = list(msgspec.structs.astuple(row_of(s)))
    for i in _JSON_AT:
        values[i] = "" if stored and i == _PARAMS_AT else _encode(values[i])
    return (*values, _encode_state(msgspec.structs.replace(s, params={})))


_RESULT = """
INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT(job_id, url) DO UPDATE SET seq=excluded.seq, ok=excluded.ok,
    status=excluded.status, error=excluded.error, duration_ms=excluded.duration_ms,
    bytes=excluded.bytes, cache_hit=excluded.cache_hit, meta=excluded.meta,
    result_key=excluded.result_key
WHERE results.ok = 0
"""


def _result_row(seq: int, e: PageRecorded) -> tuple[object, ...]:
    m = e.meta
    hit = m.get("cache_hit")
    return (
        e.job_id, e.url, seq, int(e.ok), e.status, e.error, int(m.get("duration_ms") or 0),
        int(m.get("bytes") or 0), None if hit is None else int(hit), _encode(m), e.result_key,
    )  # fmt: skip


def _page_rows(seq: int, e: AnyEvent) -> list[tuple[object, ...]]:
    """The result rows of a page event, or of each chapter of a `chapters_stored` (OK pages
    whose content is in the library: no body in RESULTS)."""
    if isinstance(e, PageRecorded):
        return [_result_row(seq, e)]
    if not isinstance(e, ChaptersStored):
        return []
    return [
        (e.job_id, c.url, seq, 1, c.status, None, c.duration_ms, c.fetched, None,
         _encode(c.page_meta(e.at)), None)
        for c in e.chapters
    ]  # fmt: skip


def _item_row(seq: int, e: ItemScraped) -> tuple[object, ...]:
    return (seq, e.job_id, e.url, e.index, _encode(e.data))


def _event_row(seq: int, e: AnyEvent) -> tuple[object, ...]:
    return (seq, e.job_id, kind_of(e), e.at, e.actor, _encode(to_builtins(e)))


async def _load_states(
    db: aiosqlite.Connection, ids: Sequence[str], cache: StateCache
) -> dict[str, JobState]:
    """The stored states of `ids` (those that have one), without their params (see `_row`);
    read from SQLite only where `cache` does not hold the stored version."""
    query = LOAD.format(columns=STATE, marks=",".join("?" * len(ids)))
    rows = await db.execute_fetchall(query, (cache.versions(ids), *ids))
    return {s.id: s for s in cache.resolve(rows, _decode_state)}


def _fold_job(state: JobState | None, events: list[tuple[int, AnyEvent]]) -> JobState | None:
    fresh = [(seq, e) for seq, e in events if state is None or seq > state.version]
    try:
        return fold(fresh, state)
    except InvalidHistory as e:
        # A history the state machine rejects (e.g. a late write to a purged job, whose rows
        # are gone) is skipped, not fatal: one bad job must not stop the read model.
        log.warning("skipping events of job %s: %s", events[0][1].job_id, e)
        return state


_ERASE = (
    "DELETE FROM jobs WHERE id = ?",
    "DELETE FROM job_events WHERE job_id = ?",
    "DELETE FROM results WHERE job_id = ?",
    "DELETE FROM items WHERE job_id = ?",
)


class _Writes(NamedTuple):
    """A batch's rows, made in the event loop's thread; stored in the database's."""

    last: int  # the batch's last sequence: the new checkpoint
    live: list[JobState]  # folded jobs whose rows are kept
    rows: list[tuple[object, ...]]  # their `_UPSERT` values
    purged: list[tuple[str]]  # jobs whose every row goes
    kept: list[tuple[int, AnyEvent]]  # the events of the live jobs
    folded: list[JobState | None]
    events: list[tuple[object, ...]]
    pages: list[tuple[object, ...]]
    items: list[tuple[object, ...]]


def _writes(
    batch: Sequence[tuple[int, AnyEvent]], folded: list[JobState | None], existing: Collection[str]
) -> _Writes:
    """What `batch` writes, given its jobs `folded` (those in `existing` have a row). Purged
    jobs and jobs with no state (a rejected history) store nothing, so a rebuild, which folds
    a purged job's tombstone and late writes together, stores the same rows."""
    live = [s for s in folded if s is not None and not s.purged]
    stored = {s.id for s in live}
    kept = [(seq, e) for seq, e in batch if e.job_id in stored]
    return _Writes(
        last=batch[-1][0], live=live, rows=[_row(s, s.id in existing) for s in live],
        purged=[(s.id,) for s in folded if s is not None and s.purged], kept=kept,
        folded=folded, events=[_event_row(seq, e) for seq, e in kept],
        pages=[row for seq, e in kept for row in _page_rows(seq, e)],
        items=[_item_row(seq, e) for seq, e in kept if isinstance(e, ItemScraped)],
    )  # fmt: skip


async def apply_batch(
    db: aiosqlite.Connection,
    batch: Sequence[tuple[int, AnyEvent]],
    cache: StateCache | None = None,
) -> int:
    """Apply `batch` (increasing sequences) and move the checkpoint, atomically.

    Returns the new checkpoint. Events at or below a job's folded version are ignored, so
    re-applying a batch after a crash between commit and acknowledgement changes nothing.

    Two hand-offs to the connection's thread, not one per statement (which cost more than
    the statements): the jobs' states are read, folded and turned into rows here; the
    transaction then runs whole in the thread (`in_thread`). The states may be read outside
    it: the projector is the read model's only writer. With `cache` (the projector's), the
    states it remembers are not read again, and those written are remembered once committed.
    """
    cache = cache if cache is not None else StateCache()
    by_job: dict[str, list[tuple[int, AnyEvent]]] = defaultdict(list)
    for seq, event in batch:
        by_job[event.job_id].append((seq, event))
    states = await _load_states(db, list(by_job), cache)
    folded = [_fold_job(states.get(job_id), evs) for job_id, evs in by_job.items()]
    writes = _writes(batch, folded, states.keys())
    last = await in_thread(db, lambda conn: _store(conn, writes, cache))
    cache.wrote(writes.live, gone=[job_id for (job_id,) in writes.purged])
    return last


def _store(db: sqlite3.Connection, w: _Writes, cache: StateCache) -> int:
    """Write `w` in one transaction, checkpoint included; rolled back whole on any error."""
    db.execute("BEGIN")
    try:
        db.executemany(_UPSERT, w.rows)
        if w.purged:  # rare
            for sql in _ERASE:
                db.executemany(sql, w.purged)
        roll_up(db, w.live, cache)
        apply_library(db, w.kept, w.folded)
        db.executemany("INSERT OR IGNORE INTO job_events VALUES (?,?,?,?,?,?)", w.events)
        if w.pages:
            db.executemany(_RESULT, w.pages)
        if w.items:
            db.executemany("INSERT OR IGNORE INTO items VALUES (?,?,?,?,?)", w.items)
        db.execute(
            "INSERT INTO checkpoint (id, seq, schema_version) VALUES (1, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET seq = max(seq, excluded.seq)",
            (w.last, SCHEMA_VERSION),
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return w.last
