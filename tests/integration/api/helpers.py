"""Shared helpers of the API tests: requests, error-body checks, and direct engine access."""

from __future__ import annotations

from typing import Any

import msgspec
from multidict import CIMultiDictProxy

from engine.domain.commands import AnyCommand, CreateJob, FinishJob, StartJob
from engine.domain.envelope import command_envelope, event_envelope, new_id
from engine.domain.events import ChapterStored, ImageInfo, kind_of
from engine.domain.model import TIER_PRIORITY, JobType
from engine.jetstream.store import Stored
from engine.novels.model import url_id
from engine.service import JobService
from tests.integration.novels.shelf import MAP_URL, NOVEL_ID, Shelved, contents, put_novel
from tests.support import Client, Service, get_job

# Every field of the Job object of lncrawl's Jobs API.
JOB_FIELDS = frozenset(
    {
        "id", "user_id", "parent_job_id", "depends_on", "type", "priority", "status",
        "is_done", "is_running", "is_pending", "error", "done", "failed", "total", "progress",
        "job_title", "started_at", "finished_at", "created_at", "updated_at", "extra",
    }
)  # fmt: skip

NOVEL = "/api/job/create/fetch-novel"
VOLUMES = "/api/job/create/fetch-volumes"
CHAPTERS = "/api/job/create/fetch-chapters"
IMAGES = "/api/job/create/fetch-images"
ARTIFACTS = "/api/job/create/make-artifacts"
SCRAPE = "/api/job/create/scrape"

# The source a fetch-novel body names: the tests' hosts are bound to none, and no test here
# runs the job (the API tests have no worker).
SOURCE = "novelfull"

# The library `in_library` makes: volumes, chapters, and the image chapter 1 shows.
SHELF_VOLUMES = [f"{NOVEL_ID}-v1", f"{NOVEL_ID}-v2"]
SHELF_CHAPTERS = [c.id for c in contents(2, 3)[1]]
SHELF_IMAGE = url_id(MAP_URL)

# One valid body per create endpoint; the library ones name `in_library`'s novel.
VALID_BODIES: dict[str, dict[str, Any]] = {
    NOVEL: {"url": "https://example.com/novel.html", "source": SOURCE},
    VOLUMES: {"volumes": SHELF_VOLUMES[:1]},
    CHAPTERS: {"chapters": SHELF_CHAPTERS[:1]},
    IMAGES: {"images": [SHELF_IMAGE]},
    ARTIFACTS: {"novel_id": NOVEL_ID, "formats": ["epub"]},
}


def job_routes(job_id: str) -> list[tuple[str, str]]:
    """The routes about one job (read, history, cancel, replay, delete): method and path."""
    return [
        ("GET", f"/api/job/{job_id}"),
        ("GET", f"/api/job/{job_id}/events"),
        ("POST", f"/api/job/{job_id}/cancel"),
        ("POST", f"/api/job/{job_id}/replay"),
        ("DELETE", f"/api/job/{job_id}"),
    ]


async def raw(
    client: Client, method: str, path: str, **kwargs: Any
) -> tuple[int, CIMultiDictProxy[str], Any]:
    """Like `Client.call`, with the response headers; the body must be JSON (or empty)."""
    headers = client._headers(kwargs.pop("headers", None))
    async with client.session.request(
        method, client.base + path, headers=headers, **kwargs
    ) as resp:
        body = await resp.read()
        return resp.status, resp.headers, msgspec.json.decode(body) if body else None


def assert_error(status: int, body: Any, expected: int, field: str | None = None) -> None:
    """An error response: `{status_code, detail, field}`, the detail naming `field`."""
    assert status == expected, body
    assert isinstance(body, dict), body
    assert set(body) == {"status_code", "detail", "field"}, body
    assert body["status_code"] == expected
    assert isinstance(body["detail"], str) and body["detail"], body
    if field is not None:
        assert body["field"] == field, body
        assert field in body["detail"], body


async def create(client: Client, path: str = NOVEL, **body: Any) -> dict[str, Any]:
    """A job made by `path` from `body` (default VALID_BODIES[path]); a fetch-novel body
    names SOURCE unless it names a source."""
    if path == NOVEL and body:
        body = {"source": SOURCE, **body}
    status, job = await client.call("POST", path, json=body or VALID_BODIES[path])
    assert status == 201, job
    assert isinstance(job, dict)
    return job


async def events(client: Client, job_id: str) -> list[dict[str, Any]]:
    status, page = await client.call("GET", f"/api/job/{job_id}/events", params={"limit": 100})
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    assert page["total"] == len(items)
    return items


async def list_all(client: Client, **params: Any) -> list[dict[str, Any]]:
    status, page = await client.call("GET", "/api/jobs", params={"limit": 100, **params})
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    assert page["total"] == len(items)
    return items


def engine(svc: Service) -> JobService:
    service: JobService = svc.runtime.jobs.service
    return service


async def log_of(svc: Service, job_id: str) -> list[Stored]:
    """The job's events as JetStream holds them."""
    return await engine(svc).store.history(job_id)


async def log_kinds(svc: Service, job_id: str) -> list[str]:
    return [kind_of(s.event) for s in await log_of(svc, job_id)]


async def run(svc: Service, command: AnyCommand) -> None:
    """Execute a command on the engine directly, as a worker would, and wait for the read model."""
    outcome = await engine(svc).execute(command)
    await svc.runtime.projector.wait_for(outcome.seq)


async def start(svc: Service, job_id: str) -> None:
    cmd = StartJob(**command_envelope(job_id, "w"), worker_id="w1")
    await run(svc, cmd)


async def finish(svc: Service, job_id: str, *, ok: bool, error: str | None = None) -> None:
    cmd = FinishJob(**command_envelope(job_id, "w"), ok=ok, error=error)
    await run(svc, cmd)


async def in_library(svc: Service, client: Client) -> Shelved:
    """Put a novel in `client`'s library, as a finished NOVEL job of theirs would (its facts
    in the log, no content), once the read model has it: the library creates take only ids
    of the caller's library (VALID_BODIES names this novel, NOVEL_ID, its volumes, chapters
    and image). The NOVEL job (`toc_job_id`) is one of the client's jobs; its log also says
    chapter 1 was stored showing an image (SHELF_IMAGE)."""
    assert client.token is not None
    user = await svc.runtime.users.resolve(client.token)
    shelf = await put_novel(svc.runtime.store, user.id)
    shown = ChapterStored(
        **event_envelope(shelf.toc_job_id, "w"), novel_id=NOVEL_ID, chapter_id=SHELF_CHAPTERS[0],
        title="Chapter 1", bytes=100, images=[ImageInfo(id=SHELF_IMAGE, url=MAP_URL)],
    )  # fmt: skip
    seq = await svc.runtime.store.append([shown], expected=shelf.seq)
    await svc.runtime.projector.wait_for(seq)
    return msgspec.structs.replace(shelf, seq=seq)


def artifact_params(*formats: str) -> dict[str, Any]:
    """An ARTIFACT (or, with several formats, ARTIFACT_BATCH) job's params as make-artifacts
    makes them, for a novel and table of contents no test built: for `create_directly`."""
    toc_job_id = "01J0000000000000000000TOC0"
    return {"novel_id": NOVEL_ID, "formats": list(formats), "toc_job_id": toc_job_id}


async def create_directly(
    svc: Service, client: Client, job_type: JobType, params: dict[str, Any], *,
    priority: int | None = None, parent_job_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A pending job of `client`'s, created through the engine as a create route would after
    its checks, for tests about jobs in general (the library's create routes also want ids
    of the caller's library); the job as GET shows it."""
    assert client.token is not None
    user = await svc.runtime.users.resolve(client.token)
    job_id = new_id()
    command = CreateJob(
        **command_envelope(job_id, user.id), user_id=user.id, type=int(job_type),
        priority=TIER_PRIORITY[user.tier] if priority is None else priority, params=params,
        title=f"{job_type.name} job", parent_job_id=parent_job_id,
    )  # fmt: skip
    await run(svc, command)
    return await get_job(client, job_id)
