"""Reads of a SPIDER job's items, in the order the log holds them.

The caller checks that the viewer may see the job (projections/queries.py `get_job`): these
read by job id only.
"""

from __future__ import annotations

from typing import Any

import aiosqlite
import msgspec

from projections.queries import _counted_page

_decode_dict = msgspec.json.Decoder(dict[str, Any]).decode


class ItemRow(msgspec.Struct, frozen=True, kw_only=True):
    """One item: `seq` its event's place in the log (a cursor for `items_after`), `url` the
    page it came from, `index` its place on that page, `data` its fields."""

    seq: int
    url: str
    index: int
    data: dict[str, Any]


def _item(row: Any) -> ItemRow:
    return ItemRow(seq=row[0], url=row[1], index=row[2], data=_decode_dict(row[3]))


async def items_page(
    db: aiosqlite.Connection, job_id: str, offset: int, limit: int
) -> tuple[int, list[ItemRow]]:
    """The job's items from `offset` (at most `limit`), and how many it has in all."""
    total, rows = await _counted_page(
        db, "items", "seq, url, idx, data", "job_id = ?", [job_id], "seq", limit, offset
    )
    return total, [_item(r) for r in rows]


async def items_after(
    db: aiosqlite.Connection, job_id: str, after_seq: int, limit: int
) -> list[ItemRow]:
    """Up to `limit` of the job's items logged after sequence `after_seq` (0: from the first),
    for exports that walk every item in bounded reads."""
    sql = "SELECT seq, url, idx, data FROM items WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?"
    rows = await db.execute_fetchall(sql, (job_id, after_seq, limit))
    return [_item(r) for r in rows]
