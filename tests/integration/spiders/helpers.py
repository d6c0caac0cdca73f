"""Spider job helpers: a SPIDER job of the shop created as the API's create route makes it,
and the job's items and pages as its log holds them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from engine.domain.events import ItemScraped, PageRecorded
from engine.domain.model import JobType
from engine.spiders.model import parse_definition, resolve_arguments
from tests.integration.api.helpers import create_directly, log_of
from tests.sites.shop import item_key, load_definition
from tests.support import Client, Service


def spider_params(
    start: str, definition: dict[str, Any] | None = None, **over: Any
) -> dict[str, Any]:
    """The params of a SPIDER job of the shop's definition started at `start` (the
    contract's shape: spider, definition snapshot, resolved arguments, limits)."""
    data = definition if definition is not None else load_definition()
    d = parse_definition(data)
    return {
        "spider": {"id": "sp-shop", "name": d.name, "version": 1},
        "definition": data,
        "arguments": resolve_arguments(d, {"start": start}),
        "max_pages": 1000, "concurrency": 4, "respect_robots": True, "delay_ms": 0,
        **over,
    }  # fmt: skip


async def create_spider_job(
    svc: Service, start: str, client: Client | None = None, **over: Any
) -> dict[str, Any]:
    """A pending SPIDER job of the shop (the job as GET shows it)."""
    return await create_directly(
        svc, client or svc.admin, JobType.SPIDER, spider_params(start, **over)
    )


async def logged_items(svc: Service, job_id: str) -> Counter[str]:
    """The job's `item` events as a multiset of `{url, data}` keys."""
    events = [s.event for s in await log_of(svc, job_id)]
    return Counter(
        item_key({"url": e.url, "data": e.data}) for e in events if isinstance(e, ItemScraped)
    )


async def logged_pages(svc: Service, job_id: str) -> Counter[tuple[str, bool]]:
    """How often each (url, ok) has a `page` event in the job's log."""
    events = [s.event for s in await log_of(svc, job_id)]
    return Counter((e.url, e.ok) for e in events if isinstance(e, PageRecorded))
