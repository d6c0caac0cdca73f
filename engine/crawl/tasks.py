"""Finished tasks of a pool of fetch slots."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def raise_first(done: Iterable[asyncio.Future[Any]]) -> None:
    """Raise the first exception among `done` (finished tasks), after reading every one's:
    several slots may fail together (a store outage fails every slot's next write), and an
    exception left unread is logged as "never retrieved" when its task is collected."""
    errors = [e for t in done if not t.cancelled() and (e := t.exception()) is not None]
    if errors:
        raise errors[0]


async def tracked(fetches: set[asyncio.Task[T]], work: Coroutine[Any, Any, T]) -> T | None:
    """Run `work` as a task held in `fetches` (where a stop cancels fetches in flight);
    its result, or None when it was cancelled."""
    task = asyncio.create_task(work)
    fetches.add(task)
    try:
        await asyncio.wait({task})
    finally:
        fetches.discard(task)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    return None if task.cancelled() else task.result()
