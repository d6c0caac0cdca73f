"""FULL_NOVEL end to end on the local NovelFull site (127.0.0.1), through the API, the
dispatcher and a real worker: the novel, its volumes' chapters, an epub, progress in chapters."""

from __future__ import annotations

from typing import Any

from engine.domain.batches import child_id, expansion_child_id
from engine.domain.events import ArtifactStored, JobExpanded
from engine.domain.model import JobStatus, JobType
from engine.jetstream.library import LibraryStore, artifact_object
from engine.novels.model import url_id
from tests.integration.api.helpers import log_of
from tests.integration.novels.novel_helpers import stored_ids
from tests.sites.novelsite import MAIN_CHAPTERS, Faults, serve_novel_site
from tests.support import Service, get_job, wait_until

CHAPTERS = MAIN_CHAPTERS  # 260, grouped 100 a volume: 100, 100 and 60


async def _full_novel(svc: Service, url: str) -> tuple[dict[str, Any], list[int]]:
    """The finished FULL_NOVEL job, and its progress as seen while it ran."""
    body = {"url": url, "source": "novelfull", "full": True}
    status, job = await svc.admin.call("POST", "/api/job/create/fetch-novel", json=body)
    assert status == 201, job
    seen: list[int] = []

    async def done() -> bool:
        nonlocal job
        job = await get_job(svc.admin, job["id"])
        seen.append(job["progress"])
        return bool(job["is_done"])

    await wait_until(done, timeout=100, interval=0.05)
    return job, seen


async def _children(svc: Service, parent: str) -> list[dict[str, Any]]:
    return [await get_job(svc.admin, expansion_child_id(parent, i)) for i in range(2)]


async def test_a_full_novel_fetches_every_chapter_and_makes_an_epub(working: Service) -> None:
    async with serve_novel_site("novelfull", faults=Faults(missing=frozenset())) as site:
        job, seen = await _full_novel(working, site.novel_url())
    novel_id = url_id(site.novel_url())
    assert job["status"] == JobStatus.SUCCESS, job
    assert (job["done"], job["failed"], job["total"], job["progress"]) == (
        CHAPTERS + 1,
        0,
        CHAPTERS + 1,
        100,
    )
    assert seen == sorted(seen)  # progress never went back

    batch, epub = await _children(working, job["id"])
    assert (batch["type"], batch["parent_job_id"], batch["status"]) == (
        JobType.VOLUME_BATCH, job["id"], JobStatus.SUCCESS,
    )  # fmt: skip
    assert (batch["done"], batch["total"]) == (CHAPTERS, CHAPTERS)  # in chapters
    assert epub["type"] == JobType.ARTIFACT and epub["depends_on"] == batch["id"]
    assert epub["status"] == JobStatus.SUCCESS and epub["extra"]["format"] == "epub"
    volumes = [await get_job(working.admin, child_id(batch["id"], j)) for j in range(3)]
    assert [v["total"] for v in volumes] == [100, 100, 60]
    assert all(v["status"] == JobStatus.SUCCESS for v in volumes)

    (expanded,) = [s.event for s in await log_of(working, job["id"])
                   if isinstance(s.event, JobExpanded)]  # fmt: skip
    assert expanded.units == CHAPTERS + 1
    stored = [s.event for v in volumes for s in await log_of(working, v["id"])]
    assert len(stored_ids(stored)) == CHAPTERS
    (made,) = [s.event for s in await log_of(working, epub["id"])
               if isinstance(s.event, ArtifactStored)]  # fmt: skip
    assert made.novel_id == novel_id and made.chapters_missing == 0
    library = await LibraryStore.open(working.runtime.nc)
    blob = await library.get_file(artifact_object(novel_id, made.artifact_id))
    assert blob is not None and blob.data[:2] == b"PK"  # an epub is a zip


async def test_a_missing_chapter_fails_the_novel_but_the_epub_is_made(working: Service) -> None:
    async with serve_novel_site("novelfull") as site:  # chapter 13 is a 404
        job, _ = await _full_novel(working, site.novel_url())
    assert job["status"] == JobStatus.FAILED, job
    assert job["error"] == "1 of 2 children failed"
    assert (job["done"], job["failed"], job["progress"]) == (CHAPTERS, 1, 100)
    batch, epub = await _children(working, job["id"])
    assert batch["status"] == JobStatus.FAILED and (batch["done"], batch["failed"]) == (
        CHAPTERS - 1,
        1,
    )
    assert epub["status"] == JobStatus.SUCCESS  # ran after its failed sibling
    (made,) = [s.event for s in await log_of(working, epub["id"])
               if isinstance(s.event, ArtifactStored)]  # fmt: skip
    assert made.chapters_missing == 1
