"""raise_first: the first failure of a pool's finished tasks, every other one read."""

from __future__ import annotations

import asyncio
import gc

import pytest

from engine.crawl.tasks import raise_first


async def _fail(message: str) -> None:
    raise RuntimeError(message)


async def _ok() -> None:
    return None


async def test_every_failure_is_read_and_the_first_raised() -> None:
    loop = asyncio.get_running_loop()
    unread: list[object] = []
    loop.set_exception_handler(lambda _loop, context: unread.append(context))
    tasks = [asyncio.ensure_future(c) for c in (_ok(), _fail("one"), _fail("two"))]
    await asyncio.wait(tasks)
    with pytest.raises(RuntimeError, match="one"):
        raise_first(tasks)
    del tasks
    gc.collect()
    assert unread == []  # "Task exception was never retrieved" would be reported here


async def test_nothing_is_raised_when_every_task_ended_well_or_was_cancelled() -> None:
    cancelled = asyncio.ensure_future(asyncio.sleep(10))
    cancelled.cancel()
    done = asyncio.ensure_future(_ok())
    await asyncio.wait([cancelled, done])
    raise_first([cancelled, done])
