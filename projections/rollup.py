"""Progress of jobs whose work is done below them, summed from their children's rows.

A FULL_NOVEL's work is its VOLUMEs' chapters and its epub, two and three levels below it; its
own log only says which children ended. So the read model keeps its counters as the sum of
its children's (`rolls_up_units`: expanded jobs, volume batches, and a FULL_NOVEL before it
expands, which so shows nothing done rather than its novel page), each child counted in its
own units: a VOLUME in chapters (fetched ones done or failed, ones already in the library
done too), a leaf that ended without counting anything (an ARTIFACT) as its `total`, done if
it succeeded and failed if it failed. The parent's `total` is the larger of its planned
`units` and the children's totals, so progress moves chapter by chapter and reaches 100 when
the job succeeds.

Whenever a job's row is written, its roll-up ancestors are computed again in the same
transaction, bottom up; the sums depend only on the children's rows, so a rebuild from the
log gives the same numbers. The job's own fold (`state`, what time travel and its SSE stream
show) still counts its direct children.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence

import msgspec

from engine.domain.batches import rolls_up_units
from engine.domain.model import JobStatus
from engine.domain.progress import progress
from engine.domain.state import JobState
from projections.state_cache import LOAD, STATE, StateCache


class _Node(msgspec.Struct, frozen=True, kw_only=True):
    """What the roll-up reads of a job's stored state (stored without its params, which for
    a VOLUME_BATCH list every chapter of a novel); decoding only these skips the rest."""

    id: str
    user_id: str
    type: int
    priority: int
    status: int
    parent_job_id: str | None = None
    total: int = 1
    purged: bool = False
    children: dict[str, int] = {}
    expanded: int = 0
    units: int = 0
    version: int = 0


_decode_node = msgspec.json.Decoder(_Node).decode
_MAX_DEPTH = 8  # FULL_NOVEL_BATCH > FULL_NOVEL > VOLUME_BATCH > VOLUME: a tree is never deeper
_SUMS = f"""
SELECT
  coalesce(sum(CASE WHEN done + failed + skipped = 0 AND status = {JobStatus.SUCCESS}
      THEN total ELSE done + skipped END), 0),
  coalesce(sum(CASE WHEN done + failed + skipped = 0 AND status = {JobStatus.FAILED}
      THEN total ELSE failed END), 0),
  coalesce(sum(total), 0),
  coalesce(sum(skipped), 0)
FROM jobs WHERE id IN (SELECT value FROM json_each(?))
"""
_SET = "UPDATE jobs SET done = ?, failed = ?, total = ?, skipped = ?, progress = ? WHERE id = ?"


def roll_up(
    db: sqlite3.Connection, written: Sequence[JobState], cache: StateCache | None = None
) -> None:
    """Sum the counters of every roll-up job among `written` (rows just upserted from their
    fold) and above them, each after the jobs below it; `cache` spares decoding the states
    it remembers and deriving their children's ids again."""
    cache = cache if cache is not None else StateCache()
    ids = {s.id for s in written if rolls_up_units(s)}
    ids |= {s.parent_job_id for s in written if s.parent_job_id is not None}
    for _ in range(_MAX_DEPTH):
        if not ids:
            return
        parents = [s for s in _states(db, ids, cache) if rolls_up_units(s) and not s.purged]
        for parent in parents:
            _sum_children(db, parent, cache.children(parent))
        ids = {s.parent_job_id for s in parents if s.parent_job_id is not None}


def _states(db: sqlite3.Connection, ids: Collection[str], cache: StateCache) -> list[JobState]:
    """The jobs' states as far as the roll-up reads them: remembered by `cache`, or decoded
    (params, URLs and the rest left at their defaults)."""
    marks = ",".join("?" * len(ids))
    query = LOAD.format(columns=STATE, marks=marks)
    rows = db.execute(query, (cache.versions(ids), *ids)).fetchall()
    return cache.resolve(rows, _decode)


def _decode(state: bytes | str) -> JobState:
    return JobState(**msgspec.structs.asdict(_decode_node(state)))


def _sum_children(db: sqlite3.Connection, parent: JobState, ids: list[str]) -> None:
    children = msgspec.json.encode(ids).decode()
    done, failed, total, skipped = (int(v) for v in db.execute(_SUMS, (children,)).fetchone())
    total = max(total, parent.units, parent.total, done + failed)
    whole = progress(parent.status, done, failed, total).whole
    db.execute(_SET, (done, failed, total, skipped, whole, parent.id))
