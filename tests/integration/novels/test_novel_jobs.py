"""NOVEL jobs against the local novel sites (127.0.0.1), through the API and a real worker:
the novel's facts in the job's log, the cover in the library."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.domain.events import ChaptersListed, ImageStored, NovelParsed, PageRecorded
from engine.jetstream.library import LibraryStore, cover_object
from engine.novels.model import url_id
from tests.integration.api.helpers import log_of
from tests.integration.novels.novel_helpers import watched_site
from tests.sites.novelsite import MAIN, MAIN_CHAPTERS, PNG, VOLUMES, Faults, serve_novel_site
from tests.support import Service, finished, wait_until

NOVEL = "/api/job/create/fetch-novel"


async def _novel_job(svc: Service, body: dict[str, Any]) -> dict[str, Any]:
    status, job = await svc.admin.call("POST", NOVEL, json=body)
    assert status == 201, job
    return await finished(svc.admin, job["id"])


@pytest.mark.parametrize("layout", ["novelfull", "madara"])
async def test_a_novel_job_records_the_novel_and_stores_its_cover(
    working: Service, layout: str
) -> None:
    async with serve_novel_site(layout) as site:
        job = await _novel_job(working, {"url": site.novel_url(), "source": layout})
        log = site.log.copy()
    model = site.novels[MAIN]
    novel_id = url_id(site.novel_url())
    assert job["status"] == 2, job
    assert job["job_title"] == model.title
    assert job["extra"]["novel_id"] == novel_id
    assert job["extra"]["novel_title"] == model.title

    events = [s.event for s in await log_of(working, job["id"])]
    (parsed,) = [e for e in events if isinstance(e, NovelParsed)]
    assert (parsed.novel_id, parsed.source, parsed.title) == (novel_id, layout, model.title)
    assert parsed.authors == list(model.authors)
    assert (parsed.chapter_count, parsed.parts) == (MAIN_CHAPTERS, 1)
    assert [v.id for v in parsed.volumes] == [f"{novel_id}-v{n}" for n in (1, 2, 3)]
    (listed,) = [e for e in events if isinstance(e, ChaptersListed)]
    assert [c.url for c in listed.chapters] == [
        site.chapter_url(n) for n in range(1, MAIN_CHAPTERS + 1)
    ]
    assert [c.serial for c in listed.chapters] == list(range(1, MAIN_CHAPTERS + 1))
    assert {c.volume_id for c in listed.chapters[:100]} == {f"{novel_id}-v1"}
    assert all(c.id == url_id(c.url) for c in listed.chapters)

    (cover,) = [e for e in events if isinstance(e, ImageStored)]
    assert cover.ok and cover.cover and cover.chapter_id is None
    assert cover.content_type == "image/png" and cover.bytes == len(PNG)
    library = await LibraryStore.open(working.runtime.nc)
    blob = await library.get_file(cover_object(novel_id))
    assert blob is not None and blob.data == PNG and blob.content_type == "image/png"

    pages = [e for e in events if isinstance(e, PageRecorded)]
    assert pages[0].url == site.novel_url() and all(p.ok for p in pages)
    assert job["done"] == len(pages) and job["failed"] == 0
    assert not [p for p in log if re.search(r"/chapter-\d+", p)]  # no chapter was read


async def test_madara_falls_back_to_admin_ajax_and_reads_volumes(working: Service) -> None:
    async with serve_novel_site("madara", faults=Faults(chapters_endpoint=False)) as site:
        job = await _novel_job(working, {"url": site.novel_url(VOLUMES), "source": "madara"})
    assert job["status"] == 2, job
    events = [s.event for s in await log_of(working, job["id"])]
    (parsed,) = [e for e in events if isinstance(e, NovelParsed)]
    assert [v.title for v in parsed.volumes] == list(site.novels[VOLUMES].volumes)
    pages = [e for e in events if isinstance(e, PageRecorded)]
    # the novel page, the chapter list it asks for first (404), then admin-ajax
    assert [(p.url.removeprefix(site.origin), p.ok) for p in pages] == [
        (site.novel_url(VOLUMES).removeprefix(site.origin), True),
        (f"/novel/{VOLUMES}/ajax/chapters/", False),
        ("/wp-admin/admin-ajax.php", True),
    ]
    assert (job["done"], job["failed"]) == (2, 1)


async def test_a_novel_page_that_is_not_there_fails_the_job(working: Service) -> None:
    async with serve_novel_site("novelfull") as site:
        job = await _novel_job(working, {"url": site.origin + "/nope.html", "source": "novelfull"})
    assert job["status"] == 3, job
    assert job["error"] == f"{site.origin}/nope.html: HTTP 404"
    assert "novel_id" not in job["extra"]


async def test_a_page_in_another_layout_fails_the_job_saying_so(working: Service) -> None:
    async with serve_novel_site("novelfull") as site:
        job = await _novel_job(working, {"url": site.novel_url(), "source": "madara"})
    assert job["status"] == 3, job
    assert "is not a Madara page" in job["error"], job


async def test_a_cancel_while_the_chapter_list_is_fetched_ends_the_job_at_once(
    working: Service,
) -> None:
    async with watched_site("novelfull", hold_paths={"/ajax/chapter-archive"}) as watched:
        body = {"url": watched.site.novel_url(), "source": "novelfull"}
        status, job = await working.admin.call("POST", NOVEL, json=body)
        assert status == 201, job
        await wait_until(lambda: watched.held == 1, timeout=20)
        assert (await working.admin.call("POST", f"/api/job/{job['id']}/cancel"))[0] == 200
        job = await finished(working.admin, job["id"], timeout=10)
        assert not watched.release.is_set()  # the held request was given up, not waited for
    assert job["status"] == 4 and job["error"] is None, job
    events = [s.event for s in await log_of(working, job["id"])]
    assert not [e for e in events if isinstance(e, NovelParsed | ChaptersListed)]
