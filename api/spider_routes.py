"""Spider routes: definitions (create, list, read, new version, delete), a dry run on one
page, SPIDER jobs and their items. Thin handlers over `SpidersApi` (api/spiders.py)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import JSONBody, Parameter

from api.bodies import strict_body
from api.deps import Jobs, Spiders
from api.ids import JobIdPath
from api.routes import CurrentUser, IdemKey, Limit, Offset
from api.schemas import Job, Page
from api.spider_schemas import (
    SPIDER_ID_PATTERN,
    ScrapedItem,
    Spider,
    SpiderJobBody,
    SpiderSummary,
    SpiderTest,
    SpiderTestBody,
)
from projections.items import items_page

SpiderIdPath = Annotated[
    str,
    Parameter(
        pattern=SPIDER_ID_PATTERN, min_length=4, max_length=67,
        description="A spider id: `sp_` and a ULID, or `pl_` and an installed spider's name.",
    ),
]  # fmt: skip
# The body of a create or a new version is a definition, checked by `parse_definition`
# (so a 422 names the field's whole path); the OpenAPI document shows its schema.
DefinitionBody = JSONBody[dict[str, Any]]


class SpiderController(Controller):
    path = "/api"
    tags = ["spiders"]

    @post("/spiders", status_code=201)
    async def create_spider(
        self, user: CurrentUser, spiders: Spiders, data: DefinitionBody
    ) -> Spider:
        """Define a spider (version 1): the body is its definition. 409 when the caller
        has a spider of that name; 422 naming the definition's field, e.g.
        `definition.rules[1].item.price.css`."""
        return await spiders.create(user, data)

    @get("/spiders")
    async def list_spiders(
        self, user: CurrentUser, spiders: Spiders, offset: Offset = 0, limit: Limit = 20
    ) -> Page[SpiderSummary]:
        """The caller's spiders by name (an admin's: everyone's), then the installed ones
        (`origin: plugin`), without their definitions."""
        return await spiders.listed(user, offset, limit)

    @get("/spiders/{spider_id:str}")
    async def get_spider(
        self, user: CurrentUser, spiders: Spiders, spider_id: SpiderIdPath
    ) -> Spider:
        """A spider with its current definition; 404 for another user's."""
        return await spiders.get(user, spider_id)

    @put("/spiders/{spider_id:str}")
    async def replace_spider(
        self, user: CurrentUser, spiders: Spiders, spider_id: SpiderIdPath, data: DefinitionBody
    ) -> Spider:
        """A new version of the spider (the body is its definition); jobs made before keep
        the version they ran. 405 for an installed spider."""
        return await spiders.replace(user, spider_id, data)

    @delete("/spiders/{spider_id:str}", status_code=200)
    async def delete_spider(
        self, user: CurrentUser, spiders: Spiders, spider_id: SpiderIdPath
    ) -> bool:
        """Delete the spider (its jobs and their items stay); 405 for an installed one."""
        await spiders.remove(user, spider_id)
        return True

    @post("/spiders/{spider_id:str}/test", status_code=200)
    async def test_spider(
        self, request: Request[Any, Any, Any], user: CurrentUser, spiders: Spiders,
        spider_id: SpiderIdPath, data: JSONBody[SpiderTestBody],
    ) -> SpiderTest:  # fmt: skip
        """A dry run, no job: the page at `url` fetched once (through the private-network
        guard) and the spider's rules applied. 422 naming `url` when it cannot be fetched,
        `arguments.<name>` for a bad argument."""
        data = await strict_body(request, SpiderTestBody)
        return await spiders.dry_run(user, spider_id, data)

    @post("/job/create/spider", status_code=201)
    async def create_spider_job(
        self, request: Request[Any, Any, Any], user: CurrentUser, spiders: Spiders, jobs: Jobs,
        data: JSONBody[SpiderJobBody], idempotency_key: IdemKey,
    ) -> Job:  # fmt: skip
        """A SPIDER job: 400 when the body names no spider, 404 for a spider the caller
        may not see, 422 naming `arguments.<name>` for a missing or ill-typed argument. Its
        params keep the definition, so a replay runs the same one."""
        data = await strict_body(request, SpiderJobBody)
        new = await spiders.job(user, data)
        return Job.of(await jobs.create(user, new, idempotency_key))

    @get("/job/{job_id:str}/items")
    async def job_items(
        self, user: CurrentUser, jobs: Jobs, job_id: JobIdPath, offset: Offset = 0,
        limit: Limit = 20,
    ) -> Page[ScrapedItem]:  # fmt: skip
        """A SPIDER job's items in the order they were recorded, each with the page it came
        from (none for other jobs); `GET /api/job/{id}/export?type=items` has them all."""
        await jobs.get(user, job_id)
        total, rows = await items_page(jobs.db, job_id, offset, limit)
        items = [ScrapedItem(url=r.url, data=r.data) for r in rows]
        return Page.of(total, offset, limit, items)
