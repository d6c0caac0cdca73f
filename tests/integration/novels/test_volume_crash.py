"""A VOLUME job whose worker process is SIGKILLed mid-volume: redelivered to another worker
process, it stores every chapter once and fetches none of them twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.settings import Settings
from engine.domain.model import JobType
from engine.novels.model import url_id
from tests.integration.novels.novel_helpers import (
    NO_FAULTS,
    create_job,
    events_of,
    image_facts,
    library_writes,
    page_urls,
    stored_ids,
    watched_site,
)
from tests.integration.work.helpers import WorkerProcesses, kill
from tests.sites.novelsite import NovelSite
from tests.support import Service, finished, run_service, stopped, wait_until

# Chapters 18-57; those from 27 on are held back while the first worker runs. The first
# worker's chapters (18-26) show no images: a chapter whose images still wait for the
# host's two turns while both are taken by held chapters would not be recorded in time.
SERIALS = range(18, 58)
HELD = set(range(27, 58))
BEFORE = 27 - 18


@pytest.fixture
async def queue_only(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """API and dispatcher, no workers; WORK items come back 2 s after a worker goes silent."""
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_url, work_ack_wait_s=2.0)
    async with run_service(settings) as svc:
        yield svc


def _volume(site: NovelSite) -> dict[str, object]:
    novel_id = url_id(site.novel_url())
    chapters = [
        {"id": url_id(site.chapter_url(n)), "url": site.chapter_url(n), "serial": n}
        for n in SERIALS
    ]
    return {"novel_id": novel_id, "volume_id": f"{novel_id}-v1", "source": "novelfull",
            "chapters": chapters}  # fmt: skip


async def test_a_killed_volume_resumes_storing_each_chapter_once(
    queue_only: Service, nats_url: str, tmp_path: Path
) -> None:
    store = queue_only.runtime.store
    workers = WorkerProcesses(nats_url, tmp_path / "logs")
    try:
        async with watched_site("novelfull", faults=NO_FAULTS, hold=set(HELD)) as watched:
            site = watched.site
            job_id = await create_job(queue_only, JobType.VOLUME, _volume(site))
            first = await workers.start("--concurrency", "2")

            async def first_recorded() -> bool:
                job = await store.load(job_id)
                return job is not None and job.done == BEFORE

            await wait_until(first_recorded, timeout=30)
            await wait_until(lambda: watched.held == 2)  # two chapters at the site, held
            await kill(first)
            await wait_until(lambda: watched.held == 0)  # their client is gone
            watched.hold.clear()

            last = await workers.start("--concurrency", "2")
            job = await finished(queue_only.admin, job_id, timeout=60)
            assert job["status"] == 2, (job, workers.log(1))
            paths = {n: watched.chapter_path(n) for n in SERIALS}
            answered = {n: watched.answered[p] for n, p in paths.items()}
            served = {n: site.log[p] for n, p in paths.items()}
            cut = {n for n, p in paths.items() if watched.abandoned[p]}
        assert set(answered.values()) == set(served.values()) == {1}  # none fetched twice
        assert len(cut) == 2 and cut <= HELD  # the kill cut two fetches short

        events = await events_of(queue_only, job_id)
        stored = stored_ids(events)
        assert len(stored) == len(SERIALS) and set(stored.values()) == {1}
        pages = Counter(page_urls(events))
        assert len(pages) == len(SERIALS) and set(pages.values()) == {1}
        images = Counter(e.image_id for e in image_facts(events))
        assert len(images) == 8 and set(images.values()) == {1}  # chapters 27, 37, 47, 57
        assert await library_writes(queue_only) == (len(SERIALS), len(SERIALS))
        state = await store.load(job_id)
        assert state is not None and state.attempts == 2
        assert await stopped(last, 10) == 0
    finally:
        await workers.close()
