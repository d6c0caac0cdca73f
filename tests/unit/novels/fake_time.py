"""A fake monotonic clock and sleep, for code that takes both (the per-host gate)."""

from __future__ import annotations

import asyncio


class FakeTime:
    """A monotonic clock and a sleep on it: `auto` sleeps move the clock at once; otherwise
    sleepers wait until the test moves it with `advance`."""

    def __init__(self, *, auto: bool = True) -> None:
        self.now = 0.0
        self.auto = auto
        self.waits: list[float] = []
        self.sleeping = 0  # sleepers waiting for `advance`
        self._moved = asyncio.Condition()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        target = self.now + seconds
        if self.auto:
            self.now = max(self.now, target)
            return
        self.sleeping += 1
        try:
            async with self._moved:
                await self._moved.wait_for(lambda: self.now >= target)
        finally:
            self.sleeping -= 1

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        async with self._moved:
            self._moved.notify_all()
