"""unless_stopped: fetches of a run given up once the run is asked to stop, through one
watch per run instead of a timed wait per fetch; a cancel from elsewhere stays a cancel."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any, cast

import pytest

from engine.novels import common
from engine.novels.common import Stopped, unless_stopped
from engine.novels.handlers import NovelRun


class _Run:
    """The part of a run unless_stopped uses: should_stop."""

    def __init__(self) -> None:
        self.stop = False

    def should_stop(self) -> bool:
        return self.stop


def _run() -> tuple[_Run, NovelRun]:
    run = _Run()
    return run, cast(NovelRun, run)


async def _forever(started: asyncio.Event, ended: list[str]) -> str:
    started.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        ended.append("cancelled")
        raise
    return "never"


async def test_waiting_fetches_of_a_run_are_stopped_together_and_others_run_on() -> None:
    (stopping, as_run), (other, other_run) = _run(), _run()
    ended: list[str] = []
    starts = [asyncio.Event() for _ in range(3)]
    waits = [asyncio.create_task(unless_stopped(as_run, _forever(s, ended))) for s in starts[:2]]
    elsewhere = asyncio.create_task(unless_stopped(other_run, _forever(starts[2], ended)))
    for started in starts:
        await started.wait()
    stopping.stop = True
    for wait in waits:
        with pytest.raises(Stopped):
            await wait
    assert ended == ["cancelled", "cancelled"] and not elsewhere.done()
    assert not any(t.cancelling() for t in waits)  # the watch's cancels were taken back
    other.stop = True
    with pytest.raises(Stopped):
        await elsewhere


async def test_a_result_comes_back_and_the_watch_sleeps_when_nothing_waits() -> None:
    _, run = _run()

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await unless_stopped(run, answer()) == 42
    watch = common._watches[run]
    assert not watch.waiting and watch._timer is None  # no wake-ups while nothing waits


async def test_a_run_asked_to_stop_starts_no_fetch() -> None:
    stopping, run = _run()
    stopping.stop = True
    started = asyncio.Event()
    with pytest.raises(Stopped):
        await unless_stopped(run, _forever(started, []))
    assert not started.is_set()


async def test_a_cancel_from_elsewhere_is_a_cancel_even_if_the_run_stops_too() -> None:
    stopping, run = _run()
    started, ended = asyncio.Event(), list[str]()
    wait: asyncio.Task[Any] = asyncio.create_task(unless_stopped(run, _forever(started, ended)))
    await started.wait()
    wait.cancel()  # e.g. the worker shutting down
    with pytest.raises(asyncio.CancelledError):
        await wait
    assert ended == ["cancelled"]

    started = asyncio.Event()
    both: asyncio.Task[Any] = asyncio.create_task(unless_stopped(run, _forever(started, ended)))
    await started.wait()
    stopping.stop = True
    common._watches[run]._look()  # the watch cancels it ...
    both.cancel()  # ... and so does someone else
    with pytest.raises(asyncio.CancelledError):
        await both


async def test_a_finished_run_is_not_kept_alive_by_its_watch() -> None:
    run = _run()[1]

    async def answer() -> int:
        return 1

    await unless_stopped(run, answer())
    gone = weakref.ref(run)
    del run
    gc.collect()
    assert gone() is None
