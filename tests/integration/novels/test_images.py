"""Images on the local NovelFull site (127.0.0.1) with a real worker: fetched with the page
showing them as Referer (the site protects them from hotlinking), and an image the library
already holds restated from the stored object instead of fetched again."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp

from engine.domain.events import ImageStored, StoredImage
from engine.domain.model import JobStatus, JobType
from engine.jetstream.library import LibraryStore, cover_object, image_object
from engine.novels.model import url_id
from tests.integration.api.test_library_routes import fetch
from tests.integration.novels.novel_helpers import (
    NO_FAULTS,
    chapter_params,
    create_job,
    events_of,
    image_facts,
    read_novel,
    watched_site,
)
from tests.sites.novelsite import LARGE, MAIN, PNG, Faults
from tests.support import Service, finished

PROTECTED = Faults(
    unavailable_once=frozenset(), rate_limited_once=frozenset(), missing=frozenset(),
    hotlink_protected=True,
)  # fmt: skip
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 \x00\x00\x00\x00"  # not what the site serves


def _image_path(serial: int, k: int) -> str:
    return f"/images/{MAIN}/{serial}-{k}.png"


def _images(events: list[Any]) -> dict[str, ImageStored | StoredImage]:
    return {e.image_id: e for e in image_facts(events)}


async def test_images_are_fetched_with_the_page_showing_them_as_referer(
    working: Service,
) -> None:
    async with watched_site("novelfull", faults=PROTECTED) as watched:
        site = watched.site
        async with (
            aiohttp.ClientSession() as session,
            session.get(site.origin + _image_path(7, 1)) as resp,  # refused without Referer
        ):
            assert resp.status == 403
        toc = await read_novel(working, site)
        job_id = await create_job(working, JobType.VOLUME, chapter_params(toc[:20], "novelfull"))
        job = await finished(working.admin, job_id, timeout=60)
        novel_id = url_id(site.novel_url())
        status, novel = await working.admin.call("GET", f"/api/novel/{novel_id}")
        assert status == 200 and novel["cover"] is not None, novel
        one = url_id(site.origin + _image_path(17, 2))
        status, image_job = await working.admin.call(
            "POST", "/api/job/create/fetch-images", json={"images": [one]}
        )
        assert status == 201, image_job
        image_job = await finished(working.admin, image_job["id"])
    assert job["status"] == JobStatus.SUCCESS, job
    stored = _images(await events_of(working, job_id))
    paths = [_image_path(n, k) for n in (7, 17) for k in (1, 2)]
    assert sorted(stored) == sorted(url_id(site.origin + p) for p in paths)
    assert all(fact.ok and fact.bytes == len(PNG) for fact in stored.values()), stored
    assert image_job["status"] == JobStatus.SUCCESS, image_job  # asked for alone: again
    assert [watched.answered[p] for p in paths] == [1, 1, 1, 2]
    library = await LibraryStore.open(working.runtime.nc)
    for image_id in stored:
        blob = await library.get_image(novel_id, image_id)
        assert blob is not None and blob.data == PNG and blob.content_type == "image/png"
    # stored with their chapters in LIBRARY, but the one the IMAGE job fetched again, which
    # it stored as a file (and its first copy went)
    again = url_id(site.origin + paths[-1])
    assert await library.inline_image_ids(novel_id) == set(stored) - {again}
    assert await library.get_file(image_object(novel_id, again)) is not None
    assert watched.answered[f"/covers/{MAIN}.png"] == 1
    cover = await library.get_file(cover_object(novel_id))
    assert cover is not None and cover.data == PNG


async def test_an_image_stored_with_the_chapters_is_restated_not_fetched(
    working: Service,
) -> None:
    async with watched_site("novelfull", faults=NO_FAULTS) as watched:
        site = watched.site
        toc = await read_novel(working, site)
        novel_id = url_id(site.novel_url())
        kept = url_id(site.origin + _image_path(7, 1))
        # stored in LIBRARY (as with another chapter's body), its fact not recorded by this job
        library = await LibraryStore.open(working.runtime.nc)
        message = library.image_message(novel_id, kept, WEBP, "image/webp")
        assert message is not None
        await library.put_chapters([], [message])
        params = chapter_params(toc[:10], "novelfull")
        job = await finished(working.admin, await create_job(working, JobType.VOLUME, params))
    assert job["status"] == JobStatus.SUCCESS, job
    facts = _images(await events_of(working, job["id"]))
    assert (facts[kept].ok, facts[kept].bytes, facts[kept].content_type) == (
        True, len(WEBP), "image/webp")  # fmt: skip
    assert watched.answered.get(_image_path(7, 1), 0) == 0  # restated, not fetched
    assert watched.answered[_image_path(7, 2)] == 1  # its sibling was fetched and stored
    sibling = url_id(site.origin + _image_path(7, 2))
    assert await library.inline_image_ids(novel_id) == {kept, sibling}


async def test_a_large_image_is_stored_as_a_file_and_read_back_whole(working: Service) -> None:
    faults = dataclasses.replace(NO_FAULTS, large_images=frozenset({17}))
    async with watched_site("novelfull", faults=faults) as watched:
        site = watched.site
        toc = await read_novel(working, site)
        novel_id = url_id(site.novel_url())
        params = chapter_params(toc[:20], "novelfull")
        job = await finished(working.admin, await create_job(working, JobType.VOLUME, params))
        large = [url_id(site.origin + _image_path(17, k)) for k in (1, 2)]
        status, page = await working.admin.call("GET", f"/api/chapter/{toc[16].id}")
    assert job["status"] == JobStatus.SUCCESS, job
    facts = _images(await events_of(working, job["id"]))
    assert all(facts[i].ok and facts[i].bytes == len(PNG) + LARGE for i in large), facts
    library = await LibraryStore.open(working.runtime.nc)
    small = {url_id(site.origin + _image_path(7, k)) for k in (1, 2)}
    assert await library.inline_image_ids(novel_id) == small  # the large ones are files
    for image_id in large:
        info = await library.file_info(image_object(novel_id, image_id))
        assert info is not None and info.size == len(PNG) + LARGE
        blob = await library.get_image(novel_id, image_id)
        assert blob is not None and blob.data == PNG + bytes(LARGE)
    assert status == 200 and len(page["images"]) == 2, page
    for image_id in [*large, *small]:  # the API serves each, wherever it is stored
        status, _, body = await fetch(working.admin, f"/api/image/{image_id}")
        assert status == 200 and body == (PNG + bytes(LARGE) if image_id in large else PNG)


async def test_an_image_in_the_library_is_restated_not_fetched(working: Service) -> None:
    async with watched_site("novelfull", faults=NO_FAULTS) as watched:
        site = watched.site
        toc = await read_novel(working, site)
        novel_id = url_id(site.novel_url())
        kept = url_id(site.origin + _image_path(7, 1))
        # stored, but its fact never recorded (a crash between the two)
        library = await LibraryStore.open(working.runtime.nc)
        await library.put_file(image_object(novel_id, kept), WEBP, "image/webp")
        params = chapter_params(toc[:10], "novelfull")
        first = await finished(working.admin, await create_job(working, JobType.VOLUME, params))
        images = {
            "novel_id": novel_id, "images": [
                {"id": kept, "url": site.origin + _image_path(7, 1), "chapter_id": toc[6].id}],
        }  # fmt: skip
        again = await finished(working.admin, await create_job(working, JobType.IMAGE, images))
        answered_before_refresh = watched.answered[_image_path(7, 1)]
        refresh = {**images, "refresh": True}
        fresh = await finished(working.admin, await create_job(working, JobType.IMAGE, refresh))
    assert (first["status"], again["status"], fresh["status"]) == (JobStatus.SUCCESS,) * 3
    restated = _images(await events_of(working, first["id"]))
    assert restated[kept].ok and restated[kept].chapter_id == toc[6].id
    assert (restated[kept].bytes, restated[kept].content_type) == (len(WEBP), "image/webp")
    assert watched.answered[_image_path(7, 2)] == 1  # its sibling was not in the library
    assert answered_before_refresh == 0  # neither the VOLUME nor the IMAGE fetched it
    assert (again["done"], again["failed"], again["progress"]) == (0, 0, 100), again
    (restated_again,) = _images(await events_of(working, again["id"])).values()
    assert restated_again.bytes == len(WEBP)
    assert watched.answered[_image_path(7, 1)] == 1  # `refresh` fetched it
    (fetched,) = _images(await events_of(working, fresh["id"])).values()
    assert (fetched.bytes, fetched.content_type) == (len(PNG), "image/png")
    blob = await library.get_file(image_object(novel_id, kept))
    assert blob is not None and blob.data == PNG
