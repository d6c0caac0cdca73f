"""A clock for code that takes one (`clock: Callable[[], float]`), moved by the test."""

from __future__ import annotations


class ManualClock:
    """Monotonic seconds that move only when the test sets `now`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
