"""A live reader's bounded queue: filled without waiting, drained by one reader task."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Generic, TypeVar

from streams.errors import HubStopped, SlowReader

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Holds at most `max_pending` items. Past that it is marked overflowed and takes no
    more: its reader gets what was queued, then SlowReader, so memory stays bounded and
    the client learns where to resume."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.overflowed = False
        self.closed = False
        self._items: collections.deque[T] = collections.deque()
        self._wake = asyncio.Event()

    def put(self, items: Sequence[T]) -> None:
        if self.overflowed or self.closed:
            return
        if len(self._items) + len(items) > self.max_pending:
            self.overflowed = True
        else:
            self._items.extend(items)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._items)

    async def wait(self, timeout: float | None = None) -> bool:
        """True once something is queued, False after `timeout`.

        Raises SlowReader (overflowed) or HubStopped (closed) once the queue is empty.
        """
        while not self._items:
            if self.overflowed:
                raise SlowReader(f"client too slow: over {self.max_pending} events pending")
            if self.closed:
                raise HubStopped("the server is shutting down")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return False
        return True

    def pop(self) -> T:
        return self._items.popleft()

    def take_all(self) -> list[T]:
        items = list(self._items)
        self._items.clear()
        return items
