"""The spiders application layer behind the routes: definitions, dry runs, SPIDER jobs.

A user's spiders are in the `spiders` KV bucket (engine/jetstream/spiders.py), seen by their
owner and by admins only: anyone else gets the 404 of a spider that does not exist.
Installed spiders (`origin: plugin`, ids `pl_<name>`) are seen by everyone and are
read-only. A SPIDER job's params keep the definition it runs (a snapshot), so a replay runs
that definition even after the spider changed or was deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec

from api.jobs import NewJob
from api.refusals import MissingChoice, ReadOnly
from api.schemas import Page, checked_url
from api.spider_schemas import (
    ScrapedItem,
    Spider,
    SpiderJobBody,
    SpiderSummary,
    SpiderTest,
    SpiderTestBody,
)
from api.users import User
from engine.crawl.errors import BlockedAddress, CrawlError
from engine.crawl.fetcher import FetchResult, FetchSettings, fetch, is_html, make_session
from engine.crawl.pages import ALLOW_PRIVATE_HINT
from engine.domain.errors import InvalidCommand
from engine.domain.model import JobType
from engine.jetstream.spiders import SpiderNotFound, SpiderRecord, SpiderStore
from engine.service import now_ms
from engine.spiders.crawl import extract_page
from engine.spiders.extract import PageYield, rule_for
from engine.spiders.model import (
    SpiderDefinition,
    parse_definition,
    resolve_arguments,
    start_urls,
    to_builtins,
)

PLUGIN_PREFIX = "pl_"
# A definition is kept whole in the KV bucket and in every job's params (its `created`
# event): it must fit one NATS message with room to spare.
MAX_DEFINITION_BYTES = 256 * 1024
# A dry run answers while its caller waits: one attempt, a short timeout.
TEST_FETCH = FetchSettings(timeout_s=15.0, retries=0, max_bytes=5 * 1024 * 1024)

_encode = msgspec.json.Encoder().encode


@contextlib.contextmanager
def field_named() -> Iterator[None]:
    """Every InvalidCommand raised inside with a detail that starts with its field's path,
    as every 422 of the API does (`arguments.start: ...`)."""
    try:
        yield
    except InvalidCommand as e:
        if str(e).startswith(e.field):
            raise
        raise InvalidCommand(f"{e.field}: {e}", field=e.field) from None


def definition_of(data: Any) -> SpiderDefinition:
    """The request body as a validated definition; InvalidCommand naming the field's path
    (`definition.rules[1].match`), or `definition` when it is too big."""
    with field_named():
        d = parse_definition(data)  # anything but a JSON object is refused, naming `definition`
    size = len(_encode(to_builtins(d)))
    if size > MAX_DEFINITION_BYTES:
        raise InvalidCommand(
            f"definition: {size} bytes, at most {MAX_DEFINITION_BYTES}", field="definition"
        )
    return d


def user_spider(record: SpiderRecord) -> Spider:
    d = msgspec.convert(record.definition, SpiderDefinition)
    return Spider(
        id=record.id, name=record.name, version=record.version, description=d.description,
        arguments=d.arguments, created_at=record.created_at, updated_at=record.updated_at,
        user_id=record.user_id, origin="user", definition=d,
    )  # fmt: skip


def plugin_spider(d: SpiderDefinition) -> Spider:
    return Spider(
        id=PLUGIN_PREFIX + d.name, name=d.name, version=1, description=d.description,
        arguments=d.arguments, created_at=None, updated_at=None, user_id=None,
        origin="plugin", definition=d,
    )  # fmt: skip


def summary(spider: Spider) -> SpiderSummary:
    fields = msgspec.structs.asdict(spider)
    del fields["definition"]
    return SpiderSummary(**fields)


class SpidersApi:
    """What the spider routes call. `plugins`: the installed spiders, by name."""

    def __init__(
        self, store: SpiderStore, plugins: Mapping[str, SpiderDefinition], *, allow_private: bool
    ) -> None:
        self.store = store
        self.plugins = plugins
        self.fetch_settings = msgspec.structs.replace(TEST_FETCH, allow_private=allow_private)

    async def create(self, user: User, data: Any) -> Spider:
        """Store a new spider of `user`'s (version 1); 409 for a name they use already."""
        d = definition_of(data)
        return user_spider(await self.store.add(user.id, d.name, to_builtins(d), now_ms()))

    async def replace(self, user: User, spider_id: str, data: Any) -> Spider:
        """The spider's next version; a plugin's answer is 405. The body is judged first: a
        422 tells nothing of whose the spider is."""
        d = definition_of(data)
        await self._own(user, spider_id)
        return user_spider(await self.store.replace(spider_id, d.name, to_builtins(d), now_ms()))

    async def remove(self, user: User, spider_id: str) -> None:
        await self.store.remove(await self._own(user, spider_id))

    async def get(self, user: User, spider_id: str) -> Spider:
        """A spider the caller may see; SpiderNotFound for any other id."""
        if spider_id.startswith(PLUGIN_PREFIX):
            d = self.plugins.get(spider_id.removeprefix(PLUGIN_PREFIX))
            if d is None:
                raise SpiderNotFound(f"spider {spider_id[:40]} not found")
            return plugin_spider(d)
        return user_spider(await self._record(user, spider_id))

    async def named(self, user: User, name: str) -> Spider:
        """The caller's spider called `name`, else the installed one; SpiderNotFound."""
        record = await self.store.by_name(user.id, name)
        if record is not None:
            return user_spider(record)
        if name in self.plugins:
            return plugin_spider(self.plugins[name])
        raise SpiderNotFound(f"spider_name: you have no spider named {name!r}")

    async def listed(self, user: User, offset: int, limit: int) -> Page[SpiderSummary]:
        """The caller's spiders by name (an admin's: every user's), then the installed ones."""
        owners = await self.store.owners() if user.is_admin else [user.id]
        records = [r for owner in owners for r in await self.store.of_user(owner)]
        records.sort(key=lambda r: (r.name, r.id))
        found = [user_spider(r) for r in records]
        found += [plugin_spider(self.plugins[n]) for n in sorted(self.plugins)]
        items = [summary(s) for s in found[offset : offset + limit]]
        return Page.of(len(found), offset, limit, items)

    async def dry_run(self, user: User, spider_id: str, body: SpiderTestBody) -> SpiderTest:
        """The spider's rules on the page at `body.url`, fetched once through the guard."""
        d = (await self.get(user, spider_id)).definition
        with field_named():
            hosts = _start_hosts(d, body.arguments) if body.arguments else []
        url = _checked(body.url)
        result = await self._fetch(url)
        found = PageYield()
        if 200 <= result.status < 300 and is_html(result.content_type):  # as a job reads it
            found = await extract_page(d, result, hosts)
        page = result.final_url
        rule = rule_for(d, page)
        return SpiderTest(
            url=page, status_code=result.status,
            rule=d.rules.index(rule) if rule is not None else None,
            items=[ScrapedItem(url=page, data=i) for i in found.items], links=found.links,
            dropped=found.dropped,
        )  # fmt: skip

    async def job(self, user: User, body: SpiderJobBody) -> NewJob:
        """A SPIDER job of the spider `body` names, its arguments resolved now: 400 when it
        names none, 404 for a spider the caller may not see, 422 for a bad argument."""
        spider = await self._chosen(user, body)
        d = spider.definition
        with field_named():
            arguments = resolve_arguments(d, body.arguments)
            first = start_urls(d, arguments)[0]
        params = {
            "spider": {"id": spider.id, "name": spider.name, "version": spider.version},
            "definition": to_builtins(d), "arguments": arguments, "max_pages": body.max_pages,
            "concurrency": body.concurrency, "respect_robots": body.respect_robots,
            "delay_ms": body.delay_ms,
        }  # fmt: skip
        return NewJob(
            type=JobType.SPIDER, params=params, title=f"{spider.name} · {first}", total=0,
            priority=body.priority, depends_on=body.depends_on,
        )  # fmt: skip

    async def _chosen(self, user: User, body: SpiderJobBody) -> Spider:
        if body.spider_id is not None and body.spider_name is not None:
            raise InvalidCommand("spider_id: give spider_id or spider_name, not both",
                                 field="spider_id")  # fmt: skip
        if body.spider_id is not None:
            return await self.get(user, body.spider_id)
        if body.spider_name is not None:
            return await self.named(user, body.spider_name)
        raise MissingChoice("spider_id: give spider_id or spider_name", field="spider_id")

    async def _record(self, user: User, spider_id: str) -> SpiderRecord:
        record = await self.store.get(spider_id)
        if record.user_id != user.id and not user.is_admin:
            raise SpiderNotFound(f"spider {spider_id[:40]} not found")
        return record

    async def _own(self, user: User, spider_id: str) -> SpiderRecord:
        """The spider to change: the caller's (any, for an admin); 405 for an installed one."""
        if spider_id.startswith(PLUGIN_PREFIX):
            await self.get(user, spider_id)  # 404 for none installed under that name
            raise ReadOnly(f"spider {spider_id}: installed spiders cannot be changed over HTTP")
        return await self._record(user, spider_id)

    async def _fetch(self, url: str) -> FetchResult:
        settings = self.fetch_settings
        try:
            async with make_session(settings) as session:
                return await fetch(session, url, settings)
        except CrawlError as e:
            hint = f"; {ALLOW_PRIVATE_HINT}" if isinstance(e, BlockedAddress) else ""
            raise InvalidCommand(f"url: cannot fetch {url}: {e}{hint}", field="url") from e


def _start_hosts(d: SpiderDefinition, given: dict[str, Any]) -> list[str]:
    """The hosts of the start URLs a run with `given` arguments would have."""
    urls = start_urls(d, resolve_arguments(d, given))
    return [h for u in urls if (h := urlsplit(u).hostname)]


def _checked(url: str) -> str:
    try:
        return checked_url(url, "url")
    except ValueError as e:
        raise InvalidCommand(f"url: {e}", field="url") from e
