"""The library's creates end to end, through the API and a worker, on the local novel
sites: a novel fetched by URL, then its volumes, chapters and images by id (each resolved
from the caller's library when the job is made)."""

from __future__ import annotations

from typing import Any

from engine.novels.model import url_id
from tests.integration.api.helpers import assert_error
from tests.integration.novels.novel_helpers import (
    NO_FAULTS,
    chapter_facts,
    events_of,
    page_urls,
    watched_site,
)
from tests.sites.novelsite import MAIN, VOLUMES
from tests.support import Client, Service, finished

CREATE = "/api/job/create/"


async def _run(client: Client, route: str, body: dict[str, Any]) -> dict[str, Any]:
    status, job = await client.call("POST", CREATE + route, json=body)
    assert status == 201, job
    return await finished(client, job["id"], timeout=60)


async def test_a_novel_then_its_volume_chapters_and_image_by_id(working: Service) -> None:
    alice = await working.add_user("alice")
    bob = await working.add_user("bob")
    async with watched_site("novelfull", faults=NO_FAULTS) as watched:
        site = watched.site
        novel = await _run(alice, "fetch-novel", {"url": site.novel_url(), "source": "novelfull"})
        novel_id = novel["extra"]["novel_id"]
        volume = await _run(alice, "fetch-volumes", {"volumes": [f"{novel_id}-v3"]})
        assert volume["status"] == 2 and volume["type"] == 20, volume
        assert (volume["done"], volume["total"]) == (60, 60)  # chapters 201-260
        assert volume["job_title"] == f"{site.novels[MAIN].title} · Volume 3"
        served = [site.log[watched.chapter_path(n)] for n in range(199, 261)]
        assert served == [0, 0] + [1] * 60

        chapters = [url_id(site.chapter_url(n)) for n in (207, 1)]
        again = await _run(alice, "fetch-chapters", {"chapters": chapters})
        assert again["status"] == 2 and again["type"] == 11, again
        assert [site.log[watched.chapter_path(n)] for n in (207, 1)] == [1, 1]  # 207 stored

        image_url = f"{site.origin}/images/{MAIN}/207-1.png"
        image = await _run(alice, "fetch-images", {"images": [url_id(image_url)]})
        assert image["status"] == 2 and image["type"] == 30, image
        assert watched.answered[f"/images/{MAIN}/207-1.png"] == 2  # with its chapter, again

        status, body = await bob.call("POST", CREATE + "fetch-volumes",
                                      json={"volumes": [f"{novel_id}-v3"]})  # fmt: skip
        assert_error(status, body, 422, "volumes")
        assert body["detail"] == f"volumes[0]: no volume '{novel_id}-v3' in your library"
        wanted = [f"{novel_id}-v3", f"{novel_id}-v3", f"{novel_id}-v4"]  # the novel has 3
        status, body = await alice.call("POST", CREATE + "fetch-volumes", json={"volumes": wanted})
        assert_error(status, body, 422, "volumes")
        assert body["detail"].startswith("volumes[2]: no volume")  # its index in the body
    events = await events_of(working, volume["id"])
    pages = page_urls(events)
    assert sorted(pages) == sorted(site.chapter_url(n) for n in range(201, 261))


async def test_a_chapter_batch_may_span_novels(working: Service) -> None:
    async with watched_site("madara", faults=NO_FAULTS) as watched:
        site = watched.site
        for slug in (MAIN, VOLUMES):
            body = {"url": site.novel_url(slug), "source": "madara"}
            assert (await _run(working.admin, "fetch-novel", body))["status"] == 2
        ids = [url_id(site.chapter_url(3, MAIN)), url_id(site.chapter_url(4, VOLUMES))]
        batch = await _run(working.admin, "fetch-chapters", {"chapters": ids})
        assert batch["status"] == 2 and batch["job_title"] == "2 chapters", batch
        status, children = await working.admin.call(
            "GET", "/api/jobs", params={"parent_job_id": batch["id"]}
        )
    assert status == 200 and len(children["items"]) == 2
    stored = set()
    for child in children["items"]:
        events = await events_of(working, child["id"])
        stored |= {(novel_id, c.chapter_id) for novel_id, c in chapter_facts(events)}
    assert stored == {
        (url_id(site.novel_url(MAIN)), ids[0]),
        (url_id(site.novel_url(VOLUMES)), ids[1]),
    }


async def test_ids_are_checked_and_must_be_in_the_library(working: Service) -> None:
    user = await working.add_user("u")
    cases = [
        ("fetch-volumes", {"volumes": ["0123456789abcdef-v1", "0123456789abcdef"]},
         "volumes", "volumes[1]: '0123456789abcdef' is not a volume id"),
        ("fetch-volumes", {"volumes": ["0123456789abcdef-v1"]},
         "volumes", "volumes[0]: no volume '0123456789abcdef-v1' in your library"),
        ("fetch-chapters", {"chapters": ["0123456789ABCDEF"]},
         "chapters", "chapters[0]: '0123456789ABCDEF' is not a chapter id"),
        ("fetch-chapters", {"chapters": ["0123456789abcdef"]},
         "chapters", "chapters[0]: no chapter '0123456789abcdef' in your library"),
        ("fetch-images", {"images": ["x.y"]}, "images", "images[0]: 'x.y' is not an image id"),
        ("fetch-images", {"images": ["0123456789abcdef"]},
         "images", "images[0]: no image '0123456789abcdef' in your library"),
    ]  # fmt: skip
    for route, body, field, detail in cases:
        status, error = await user.call("POST", CREATE + route, json=body)
        assert_error(status, error, 422, field)
        assert error["detail"] == detail
