"""VOLUME, CHAPTER and IMAGE jobs against the local novel sites (127.0.0.1), run by a real
worker: chapters stored once and cleaned, faults retried within the job, retry and refresh,
cancel, images."""

from __future__ import annotations

from engine.domain.model import JobType
from engine.jetstream.library import LibraryStore, image_object
from engine.novels.model import url_id
from tests.integration.novels.novel_helpers import (
    NO_FAULTS,
    chapter_facts,
    chapter_params,
    create_job,
    events_of,
    image_facts,
    library_writes,
    page_urls,
    read_novel,
    stored_ids,
    watched_site,
)
from tests.sites.novelsite import MAIN, PNG
from tests.sites.novelsite_pages import JUNK
from tests.support import Service, finished, wait_until


async def test_a_volume_stores_each_chapter_once_and_names_the_one_that_failed(
    working: Service,
) -> None:
    async with watched_site("novelfull") as watched:  # 5: 503 once, 6: 429 once, 13: 404
        site = watched.site
        toc = await read_novel(working, site)
        params = chapter_params(toc[:50], "novelfull")
        job_id = await create_job(working, JobType.VOLUME, params)
        job = await finished(working.admin, job_id, timeout=60)
        assert job["status"] == 3, job
        assert job["error"].startswith("1 of 50 chapters failed; the first: "), job
        assert site.chapter_url(13) in job["error"] and "404" in job["error"]
        assert (job["done"], job["failed"], job["total"]) == (49, 1, 50)
        fetched = {n: site.log[watched.chapter_path(n)] for n in range(1, 51)}
        assert {n: k for n, k in fetched.items() if k != 1} == {5: 2, 6: 2}
        assert watched.most_in_flight <= 2  # the gate: two requests to a host at once

        events = await events_of(working, job_id)
        stored = stored_ids(events)
        ok = {c.id for c in toc[:50] if c.serial != 13}
        assert set(stored) == ok and set(stored.values()) == {1}
        assert await library_writes(working) == (49, 49)  # each body stored once
        status, results = await working.admin.call(
            "GET", f"/api/job/{job_id}/results", params={"limit": 100}
        )
        assert status == 200 and results["total"] == 50  # a result per chapter, grouped or not
        rows = {r["url"]: r for r in results["items"] if r["ok"]}
        assert sorted(rows) == sorted(c.url for c in toc[:50] if c.serial != 13)
        assert all(r["status_code"] == 200 and r["bytes"] > 0 for r in rows.values())
        library = await LibraryStore.open(working.runtime.nc)
        assert await library.stored_chapter_ids(params["novel_id"]) == ok
        body = await library.get_chapter(params["novel_id"], toc[6].id)
        model = site.novels[MAIN].chapters[6]
        assert body is not None and body.title == model.title
        assert JUNK not in body.html and "Tom &amp; Jerry &lt;3." in body.html
        images = image_facts(events)
        assert len(images) == 10 and all(i.ok for i in images)  # chapters 7, 17, ... 47
        for image in images:  # small: stored in LIBRARY with their chapters, not as files
            blob = await library.get_image(params["novel_id"], image.image_id)
            assert blob is not None and blob.data == PNG and image.image_id == url_id(image.url)
            assert await library.file_info(image_object(params["novel_id"], image.image_id)) is None

        status, _ = await working.admin.call("POST", f"/api/job/{job_id}/retry")
        assert status == 200
        job = await finished(working.admin, job_id, timeout=30)
        assert job["status"] == 3 and job["error"].startswith("1 of 50 chapters failed")
        again = {n: site.log[watched.chapter_path(n)] for n in range(1, 51)}
        assert {n: again[n] - fetched[n] for n in again if again[n] != fetched[n]} == {13: 1}


async def test_stored_chapters_are_skipped_unless_refresh(working: Service) -> None:
    async with watched_site("madara", faults=NO_FAULTS) as watched:
        site = watched.site
        toc = await read_novel(working, site)
        first = await create_job(working, JobType.VOLUME, chapter_params(toc[:10], "madara"))
        assert (await finished(working.admin, first))["status"] == 2
        assert await library_writes(working) == (10, 10)

        again = await create_job(working, JobType.VOLUME, chapter_params(toc[:12], "madara"))
        job = await finished(working.admin, again)
        assert job["status"] == 2, job
        fetched = [site.log[watched.chapter_path(n)] for n in range(1, 13)]
        assert fetched == [1] * 12  # 1-10 were stored: only 11 and 12 were fetched
        events = await events_of(working, again)
        assert sorted(page_urls(events)) == sorted(c.url for c in toc[10:12])
        restated = list(stored_ids(events))
        assert sorted(restated) == sorted(c.id for c in toc[:12])  # the log names them all

        params = chapter_params(toc[:3], "madara", refresh=True)
        fresh = await create_job(working, JobType.VOLUME, params)
        assert (await finished(working.admin, fresh))["status"] == 2
        assert [site.log[watched.chapter_path(n)] for n in range(1, 5)] == [2, 2, 2, 1]
        assert await library_writes(working) == (12, 15)  # three bodies stored again


async def test_a_chapter_listed_twice_is_fetched_and_recorded_once(working: Service) -> None:
    async with watched_site("madara", faults=NO_FAULTS) as watched:
        site = watched.site
        toc = await read_novel(working, site)
        params = chapter_params([*toc[:3], toc[0]], "madara")
        job = await finished(working.admin, await create_job(working, JobType.VOLUME, params))
        assert job["status"] == 2 and (job["done"], job["failed"]) == (3, 0), job
        assert [site.log[watched.chapter_path(n)] for n in (1, 2, 3)] == [1, 1, 1]
        events = await events_of(working, job["id"])
    assert stored_ids(events) == {c.id: 1 for c in toc[:3]}
    assert sorted(page_urls(events)) == sorted(c.url for c in toc[:3])


async def test_a_chapter_job_fetches_its_chapter_or_fails_with_the_cause(
    working: Service,
) -> None:
    async with watched_site("novelfull") as watched:
        site = watched.site
        toc = await read_novel(working, site)
        one = await create_job(working, JobType.CHAPTER, chapter_params(toc[16:17], "novelfull"))
        job = await finished(working.admin, one)
        assert job["status"] == 2 and (job["done"], job["failed"]) == (1, 0), job
        missing = await create_job(
            working, JobType.CHAPTER, chapter_params(toc[12:13], "novelfull")
        )
        job = await finished(working.admin, missing)
    assert job["status"] == 3 and job["error"] == f"{site.chapter_url(13)}: HTTP 404", job
    events = await events_of(working, one)
    ((_, chapter),) = chapter_facts(events)
    assert chapter.chapter_id == toc[16].id and len(chapter.images) == 2
    assert [e.chapter_id for e in image_facts(events)] == [toc[16].id] * 2


async def test_an_image_job_stores_its_image_or_fails(working: Service) -> None:
    async with watched_site("novelfull") as watched:
        site = watched.site
        novel_id = url_id(site.novel_url())
        url = f"{site.origin}/images/{MAIN}/7-1.png"
        item = {"id": url_id(url), "url": url, "chapter_id": url_id(site.chapter_url(7))}
        params = {"novel_id": novel_id, "images": [item]}
        job = await finished(working.admin, await create_job(working, JobType.IMAGE, params))
        gone = f"{site.origin}/images/nope.gif"
        params = {"novel_id": novel_id, "images": [{**item, "id": url_id(gone), "url": gone}]}
        failed = await finished(working.admin, await create_job(working, JobType.IMAGE, params))
    assert job["status"] == 2 and job["done"] == 1, job
    library = await LibraryStore.open(working.runtime.nc)
    blob = await library.get_file(image_object(novel_id, url_id(url)))
    assert blob is not None and blob.data == PNG and blob.content_type == "image/png"
    assert failed["status"] == 3 and failed["error"] == f"{gone}: HTTP 404", failed
    assert await library.get_file(image_object(novel_id, url_id(gone))) is None


async def test_cancel_stops_a_volume_at_once_and_keeps_what_was_stored(
    working: Service,
) -> None:
    async with watched_site("novelfull", faults=NO_FAULTS, hold=set(range(4, 11))) as watched:
        site = watched.site
        toc = await read_novel(working, site)
        job_id = await create_job(working, JobType.VOLUME, chapter_params(toc[:10], "novelfull"))
        await wait_until(lambda: watched.held == 2, timeout=20)  # 4 and 5 wait at the site
        state = working.runtime.store

        async def three_recorded() -> bool:
            job = await state.load(job_id)
            return job is not None and job.done == 3

        await wait_until(three_recorded, timeout=20)
        status, _ = await working.admin.call("POST", f"/api/job/{job_id}/cancel")
        assert status == 200
        job = await finished(working.admin, job_id, timeout=10)
        assert not watched.release.is_set()  # the held chapters were not waited for
        await wait_until(lambda: watched.held == 0)  # their requests were given up
    assert job["status"] == 4, job
    events = await events_of(working, job_id)
    stored = list(stored_ids(events))
    assert sorted(stored) == sorted(c.id for c in toc[:3])
    library = await LibraryStore.open(working.runtime.nc)
    assert await library.stored_chapter_ids(toc[0].volume_id.split("-v")[0]) == set(stored)
