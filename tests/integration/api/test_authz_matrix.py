"""Who may call what: every route of the app's own route table, called by the owner of what it
names, another user, an admin, no token and a bad token.

A route without a case here fails the test, so a new route cannot ship without its row.
Expected: the owner and an admin are served; another user gets 404 for the owner's things and
never sees them in an answer; no token or a bad token get 401 (public routes answer everyone
alike); nobody gets a 5xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest
from litestar.routes import HTTPRoute

from api.audit import I64
from api.limits import Limits, TierLimits
from api.settings import Settings
from cli.sse_client import sse_events
from tests.integration.api.helpers import (
    ARTIFACTS,
    CHAPTERS,
    IMAGES,
    VALID_BODIES,
    VOLUMES,
    assert_error,
    create,
    finish,
    in_library,
    start,
)
from tests.integration.api.library_seed import Shelf, seed_novel
from tests.support import Client, Service, run_service

Actor = Literal["no token", "bad token", "other user", "owner", "admin"]
ACTORS: tuple[Actor, ...] = ("no token", "bad token", "other user", "owner", "admin")
# "novel": the owner's library (a novel, its chapter and image, and an artifact of theirs)
Thing = Literal["job", "failed job", "finished job", "webhook", "novel", "spider"]


class Case(msgspec.Struct, frozen=True, kw_only=True):
    """One call of a route. `names` is the owner's thing the path or query names (another
    user gets 404 for it); without it the route serves each caller their own things.
    `fresh`: the call may change the thing, so every actor gets a new one. `expect`
    overrides the status of some actors."""

    ok: int = 200
    names: Thing | None = None
    fresh: bool = False
    query: dict[str, str] = {}
    body: Any = None
    public: bool = False
    expect: dict[str, int] = {}


_HOOK = {"url": "http://127.0.0.1:9/hook", "events": ["job.page"]}
_SPIDER = {"name": "owned", "start_urls": ["{start}"], "rules": [{"match": "/"}],
           "arguments": {"start": {"type": "url", "required": True}}}  # fmt: skip
_START = {"start": "https://example.com/"}
_CREATES = {f"POST {path}": [Case(ok=201, body=body)] for path, body in VALID_BODIES.items()}
# The novel is in the owner's library only: another user's make-artifacts names no novel of
# theirs (a 422 naming `novel_id`, which tells nothing of whose it is), nor do their
# fetch-volumes, fetch-chapters and fetch-images name volumes, chapters or images of theirs.
for _path in (ARTIFACTS, VOLUMES, CHAPTERS, IMAGES):
    _CREATES[f"POST {_path}"] = [Case(ok=201, body=VALID_BODIES[_path], expect={"other user": 422})]
CASES: dict[str, list[Case]] = {
    **_CREATES,
    "POST /api/job/create/scrape": [Case(ok=201, body={"urls": ["https://example.com/a"]})],
    "POST /api/job/create/crawl": [Case(ok=201, body={"domain": "example.com"})],
    "GET /api/jobs": [Case()],
    "GET /api/events": [Case(), Case(names="job", query={"job_id": "{job_id}"})],
    "GET /api/job/{job_id}": [Case(names="job"), Case(names="job", query={"as_of": str(I64)})],
    "GET /api/job/{job_id}/events": [Case(names="job")],
    "GET /api/job/{job_id}/results": [Case(names="job")],
    "GET /api/job/{job_id}/logs": [Case(names="job")],
    "GET /api/job/{job_id}/stats": [Case(names="job")],
    "GET /api/job/{job_id}/export": [
        Case(names="job", query={"type": "broken-links"}),
        Case(names="job", query={"type": "items"}),
    ],
    "GET /api/job/{job_id}/items": [Case(names="job")],
    "POST /api/job/{job_id}/cancel": [Case(names="job", fresh=True)],
    "POST /api/job/{job_id}/replay": [Case(names="job", ok=201)],
    "POST /api/job/{job_id}/retry": [Case(names="failed job", fresh=True)],
    "DELETE /api/job/{job_id}": [
        Case(names="job", fresh=True),
        # Purging is for admins: users are refused before the job is looked up, so the 403
        # tells nothing about it.
        Case(
            names="finished job",
            fresh=True,
            query={"purge": "true"},
            expect={"owner": 403, "other user": 403},
        ),
    ],
    "GET /api/job/{job_id}/stream": [Case(names="job")],
    "GET /api/jobs/stream": [Case()],
    "POST /api/stream-token": [Case(ok=201)],
    "GET /api/webhooks": [Case()],
    "POST /api/webhooks": [Case(ok=201, body=_HOOK)],
    # Webhooks are kept per user (docs/decisions.md, Webhooks): an admin finds another
    # user's no more than any other user does.
    "DELETE /api/webhooks/{webhook_id}": [Case(names="webhook", fresh=True, expect={"admin": 404})],
    "GET /api/webhooks/{webhook_id}/deliveries": [Case(names="webhook", expect={"admin": 404})],
    "GET /api/spiders": [Case()],
    "POST /api/spiders": [Case(ok=201, body={**_SPIDER, "name": "posted"})],
    "GET /api/spiders/{spider_id}": [Case(names="spider")],
    "PUT /api/spiders/{spider_id}": [Case(names="spider", body={**_SPIDER, "name": "renamed"})],
    "DELETE /api/spiders/{spider_id}": [Case(names="spider", fresh=True)],
    # Nothing listens on port 9: past the spider's lookup, the fetch fails (a 422 naming url).
    "POST /api/spiders/{spider_id}/test": [
        Case(names="spider", ok=422, body={"url": "http://127.0.0.1:9/"})
    ],
    "POST /api/job/create/spider": [
        Case(names="spider", ok=201, body={"spider_id": "{spider_id}", "arguments": _START})
    ],
    "GET /api/novels": [Case()],
    "GET /api/sources": [Case()],  # the same list for every user: no one's things
    "GET /api/novel/{novel_id}": [Case(names="novel")],
    "GET /api/novel/{novel_id}/chapters": [Case(names="novel")],
    "GET /api/chapter/{chapter_id}": [Case(names="novel")],
    "GET /api/image/{image_id}": [Case(names="novel")],
    "GET /api/artifact/{artifact_id}": [Case(names="novel")],
    "GET /api/artifact/{artifact_id}/download": [Case(names="novel")],
    "GET /health": [Case(public=True)],
    "GET /health/ready": [Case(public=True)],
    "GET /health/live": [Case(public=True)],
    # The operator's numbers (api/metrics.py): admins only, unless the node makes them public.
    "GET /metrics": [Case(expect={"owner": 403, "other user": 403})],
    "GET /": [Case(public=True)],
    "GET /ui/{file_path}": [Case(public=True)],
    "HEAD /ui/{file_path}": [Case(public=True)],
    "GET /schema": [Case(public=True)],
    "GET /schema/openapi.json": [Case(public=True)],
    "GET /schema/{path}": [Case(public=True, ok=404)],  # Litestar's page for unknown docs
}
# Litestar answers OPTIONS on every path itself: 204 and an Allow header, to anyone.
OPTIONS = Case(public=True, ok=204)


def route_keys(svc: Service) -> set[str]:
    return {
        f"{method} {route.path_format}"
        for route in svc.app.routes
        if isinstance(route, HTTPRoute)
        for method in route.route_handler_map
    }


@pytest.fixture
async def served(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """The service without per-user limits (this is about who, not how often), allowed to
    register webhooks on 127.0.0.1."""
    limits = Limits(create_per_minute=0, max_active_jobs=TierLimits(basic=0, premium=0, vip=0))
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, allow_private_networks=True,
        limits=limits,
    )  # fmt: skip
    async with run_service(settings) as svc:
        yield svc


_ID_OF: dict[Thing, str] = {"webhook": "webhook_id", "spider": "spider_id"}


class World:
    """The callers, and the owner's things made on demand."""

    def __init__(self, svc: Service, owner: Client, other: Client) -> None:
        self.svc = svc
        self.clients: dict[Actor, Client] = {
            "no token": svc.admin.as_user(None), "bad token": svc.admin.as_user("js_" + "x" * 43),
            "other user": other, "owner": owner, "admin": svc.admin,
        }  # fmt: skip
        self.owner = owner
        self.owner_id = ""
        self._kept: dict[Thing, str] = {}
        self._shelf: Shelf | None = None
        self._spiders = 0

    async def thing(self, kind: Thing | None, fresh: bool) -> dict[str, str]:
        """Placeholders of the path and query: the owner's thing of `kind`."""
        if kind is None:  # any route: Litestar's OPTIONS answer names ids too
            ids = {"job_id": await self._keep("job"), "webhook_id": await self._keep("webhook"),
                   "spider_id": await self._keep("spider")}  # fmt: skip
            return {"file_path": "app.js", "path": "nothing.json", **ids, **await self._library()}
        if kind == "novel":
            return await self._library()
        made = await self._make(kind) if fresh else await self._keep(kind)
        return {_ID_OF.get(kind, "job_id"): made}

    async def _library(self) -> dict[str, str]:
        if self._shelf is None:
            self._shelf = await seed_novel(self.svc, self.owner, title="Owned")
        s = self._shelf
        return {
            "novel_id": s.novel_id, "chapter_id": s.fetched_id, "image_id": s.image_id,
            "artifact_id": s.artifact_id,
        }  # fmt: skip

    async def _keep(self, kind: Thing) -> str:
        if kind not in self._kept:
            self._kept[kind] = await self._make(kind)
        return self._kept[kind]

    async def _make(self, kind: Thing) -> str:
        if kind == "spider":
            self._spiders += 1  # names are unique per user
            body = {**_SPIDER, "name": f"owned-{self._spiders}"}
            status, spider = await self.owner.call("POST", "/api/spiders", json=body)
            assert status == 201, spider
            return str(spider["id"])
        if kind == "webhook":
            status, hook = await self.owner.call("POST", "/api/webhooks", json=_HOOK)
            assert status == 201, hook
            return str(hook["id"])
        job = await create(self.owner)
        self.owner_id = job["user_id"]
        if kind != "job":
            ok = kind == "finished job"
            await start(self.svc, job["id"])
            await finish(self.svc, job["id"], ok=ok, error=None if ok else "broken")
        return str(job["id"])


async def call(client: Client, method: str, path: str, case: Case) -> tuple[int, bytes]:
    """The status and the body; a stream's first event only (its snapshot)."""
    async with client.session.request(
        method, client.base + path, params=case.query, json=case.body,
        headers=client._headers(None),
    ) as resp:  # fmt: skip
        if resp.headers.get("content-type", "").startswith("text/event-stream"):
            async for event in sse_events(resp):
                return resp.status, msgspec.json.encode(event.data)
        return resp.status, await resp.read()


def expected(case: Case, actor: Actor) -> int:
    if case.public:
        return case.ok
    if actor in case.expect:
        return case.expect[actor]
    if actor in ("no token", "bad token"):
        return 401
    if actor == "other user" and case.names is not None:
        return 404
    return case.ok


async def check(world: World, key: str, case: Case, actor: Actor) -> None:
    method, template = key.split(" ", 1)
    things = await world.thing(case.names, case.fresh)
    path = template.format(**things)
    case = msgspec.structs.replace(
        case, query={k: v.format(**things) for k, v in case.query.items()},
        body=_formatted(case.body, things),
    )  # fmt: skip
    before = await _state(world, case, things)
    status, body = await call(world.clients[actor], method, path, case)
    want = expected(case, actor)
    assert status == want, (key, case.query, actor, status, body[:300])
    if want >= 400 and not case.public and method != "HEAD":
        assert_error(status, msgspec.json.decode(body), want)
    if actor != "owner" and want >= 400:
        assert await _state(world, case, things) == before, (key, actor)  # untouched
    if actor == "other user":
        assert world.owner_id.encode() not in body, (key, body[:300])
        if want < 400 and case.names is not None:
            assert not any(v.encode() in body for v in things.values()), (key, body[:300])


def _formatted(body: Any, things: dict[str, str]) -> Any:
    """`body` with the placeholders of its top-level strings filled in (a spider's id)."""
    if not isinstance(body, dict):
        return body
    return {k: v.format(**things) if k.endswith("_id") else v for k, v in body.items()}


async def _state(world: World, case: Case, things: dict[str, str]) -> Any:
    """What a refused call must leave as it was: the job as its owner sees it, or the
    owner's webhooks."""
    if "job_id" in things:
        return await world.owner.call("GET", f"/api/job/{things['job_id']}")
    if "webhook_id" in things:
        return await world.owner.call("GET", "/api/webhooks")
    if "spider_id" in things:
        return await world.owner.call("GET", "/api/spiders")
    return None


async def test_every_route_has_a_case(served: Service) -> None:
    keys = route_keys(served)
    assert {k for k in keys if not k.startswith("OPTIONS ")} == set(CASES)


async def test_the_authorization_matrix(served: Service) -> None:
    owner = await served.add_user("owner")
    await in_library(served, owner)
    world = World(served, owner, await served.add_user("other"))
    await world.thing("job", fresh=False)  # so the owner's id is known from the start
    keys = route_keys(served)
    for key in sorted(keys):
        for case in [OPTIONS] if key.startswith("OPTIONS ") else CASES[key]:
            for actor in ACTORS:
                await check(world, key, case, actor)
