"""A live reader's bounded queue: filled without waiting, drained by one reader task (only one
may wait on it at a time)."""

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
        # one reader waits at a time: a bare future wakes it for less than an Event would
        # (this runs once per reader per event: a thousand times per event at 1,000 readers)
        self._waiter: asyncio.Future[None] | None = None

    def put(self, items: Sequence[T]) -> None:
        if self.overflowed or self.closed:
            return
        if len(self._items) + len(items) > self.max_pending:
            self.overflowed = True
        else:
            self._items.extend(items)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

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
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    async with asyncio.timeout(timeout):
                        await waiter
            except TimeoutError:
                return False
            finally:
                self._waiter = None
        return True

    def pop(self) -> T:
        return self._items.popleft()

    def take_all(self) -> list[T]:
        items = list(self._items)
        self._items.clear()
        return items
