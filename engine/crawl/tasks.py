"""Finished tasks of a pool of fetch slots."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def raise_first(done: Iterable[asyncio.Future[Any]]) -> None:
    """Raise the first exception among `done` (finished tasks), after reading every one's:
    several slots may fail together (a store outage fails every slot's next write), and an
    exception left unread is logged as "never retrieved" when its task is collected."""
    errors = [e for t in done if not t.cancelled() and (e := t.exception()) is not None]
    if errors:
        raise errors[0]
