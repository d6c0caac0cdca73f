"""Running a function of many statements in an aiosqlite connection's own thread, at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import aiosqlite

T = TypeVar("T")


async def in_thread(db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work(conn)` run with `db`'s sqlite3 connection in `db`'s thread; its result or error.

    Each `await db.execute(...)` hands one statement to the thread and its answer back to the
    event loop, about 75 µs of CPU on the two-core dev machine: more than most statements
    cost. A transaction of many statements written as one function costs one hand-off.
    aiosqlite keeps the call that queues a function private (`_execute`); it is the one its
    own `execute` makes, so statements run in order with every other call on `db`.
    """
    queue = cast(Callable[[Callable[[], T]], Awaitable[T]], db._execute)
    return await queue(lambda: work(db._conn))
