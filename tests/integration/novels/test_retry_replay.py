"""Retry and replay of a novel tree on the local NovelFull site (127.0.0.1), through the
API, the dispatcher and a real worker; what was fetched is read from the site's access log.

- Retry of a FULL_NOVEL that failed on a chapter re-runs that chapter only, then makes its
  epub again, now holding the chapter.
- Replay of a finished FULL_NOVEL, and of a VOLUME, fetches no chapter again: the chapters
  are in the library, and the library is left as it was.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from typing import Any

from engine.domain.batches import child_id, expansion_child_id
from engine.domain.events import ArtifactStored
from engine.domain.model import JobStatus
from engine.jetstream.library import LibraryStore, artifact_object
from engine.novels.model import url_id
from tests.integration.novels.novel_helpers import NO_FAULTS, events_of, library_writes
from tests.sites.novelsite import MAIN, MAIN_CHAPTERS, Faults, NovelSite, serve_novel_site
from tests.support import Client, Service, finished, get_job

MISSING = 13
_CHAPTER = re.compile(r"/chapter-\d+\.html$")


def _chapter_fetches(site: NovelSite) -> Counter[str]:
    return Counter({p: n for p, n in site.log.items() if _CHAPTER.search(p)})


def _text_of(site: NovelSite, serial: int) -> str:
    """Words only chapter `serial` holds (its first paragraph but the first word, which the
    site shows emphasized)."""
    return site.novels[MAIN].chapters[serial - 1].paragraphs[0].split(" ", 1)[1]


async def _run(client: Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, job = await client.call("POST", path, json=body)
    assert status in (200, 201), job
    return await finished(client, job["id"], timeout=120)


async def _epub_text(svc: Service, novel_id: str, epub_job: str) -> str:
    """Every chapter file of the epub that the ARTIFACT job stored, as one text."""
    library = await LibraryStore.open(svc.runtime.nc)
    blob = await library.get_file(artifact_object(novel_id, epub_job))
    assert blob is not None
    with zipfile.ZipFile(io.BytesIO(blob.data)) as book:
        names = [n for n in book.namelist() if n.endswith((".xhtml", ".html"))]
        return "\n".join(book.read(n).decode() for n in names)


async def test_retry_of_a_failed_full_novel_refetches_its_chapter_and_remakes_the_epub(
    working: Service,
) -> None:
    faults = Faults(unavailable_once=frozenset(), rate_limited_once=frozenset(),
                    missing=frozenset({MISSING}))  # fmt: skip
    async with serve_novel_site("novelfull", faults=faults) as site:
        body = {"url": site.novel_url(), "source": "novelfull", "full": True}
        job = await _run(working.admin, "/api/job/create/fetch-novel", body)
        novel_id, epub_id = url_id(site.novel_url()), expansion_child_id(job["id"], 1)
        assert job["status"] == JobStatus.FAILED, job
        assert (await get_job(working.admin, epub_id))["status"] == JobStatus.SUCCESS
        first_epub = await _epub_text(working, novel_id, epub_id)
        fetched_once = _chapter_fetches(site)
        site.faults.missing = frozenset()  # the site has the chapter now
        again = await _run(working.admin, f"/api/job/{job['id']}/retry")
    assert _text_of(site, MISSING) not in first_epub  # a placeholder stood in for it
    assert again["status"] == JobStatus.SUCCESS, again
    assert (again["done"], again["failed"], again["progress"]) == (MAIN_CHAPTERS + 1, 0, 100)
    refetched = _chapter_fetches(site) - fetched_once
    assert refetched == Counter({site.chapter_url(MISSING).removeprefix(site.origin): 1})
    assert sum(fetched_once.values()) == MAIN_CHAPTERS  # every chapter once, 13 as a 404
    epub = await get_job(working.admin, epub_id)
    assert epub["status"] == JobStatus.SUCCESS, epub
    made = [e for e in await events_of(working, epub_id) if isinstance(e, ArtifactStored)]
    assert [m.chapters_missing for m in made] == [1, 0]
    text = await _epub_text(working, novel_id, epub_id)
    assert _text_of(site, MISSING) in text and _text_of(site, MISSING + 1) in text


async def _library_view(client: Client, novel_id: str) -> tuple[dict[str, Any], list[Any]]:
    """The novel (its artifacts apart) and every chapter row, as the API shows them."""
    status, novel = await client.call("GET", f"/api/novel/{novel_id}")
    assert status == 200, novel
    novel.pop("artifacts")
    return novel, await client.all_items(f"/api/novel/{novel_id}/chapters")


async def test_replay_of_a_full_novel_fetches_no_chapter_again(working: Service) -> None:
    async with serve_novel_site("novelfull", faults=NO_FAULTS) as site:
        body = {"url": site.novel_url(), "source": "novelfull", "full": True}
        job = await _run(working.admin, "/api/job/create/fetch-novel", body)
        assert job["status"] == JobStatus.SUCCESS, job
        novel_id = job["extra"]["novel_id"]
        before = await _library_view(working.admin, novel_id)
        fetched, writes = _chapter_fetches(site), await library_writes(working)
        replay = await _run(working.admin, f"/api/job/{job['id']}/replay")
        batch_id = expansion_child_id(job["id"], 0)
        batch = await get_job(working.admin, batch_id)
        volume = await _run(working.admin, f"/api/job/{child_id(batch_id, 2)}/replay")
        after = await _library_view(working.admin, novel_id)
    assert replay["status"] == JobStatus.SUCCESS, replay
    assert replay["extra"]["replay_of"] == job["id"]
    # a VOLUME of the tree replayed on its own: done, its batch left as it was
    assert volume["status"] == JobStatus.SUCCESS and volume["total"] == 60, volume
    assert await get_job(working.admin, batch_id) == batch
    assert _chapter_fetches(site) == fetched and sum(fetched.values()) == MAIN_CHAPTERS
    assert await library_writes(working) == writes  # no chapter body stored again
    assert after == before
    assert all(c["fetched"] for c in after[1]) and len(after[1]) == MAIN_CHAPTERS
    epub = await get_job(working.admin, expansion_child_id(replay["id"], 1))
    assert epub["status"] == JobStatus.SUCCESS  # the replay made its own epub


async def test_replay_of_a_volume_fetches_no_chapter_again(working: Service) -> None:
    async with serve_novel_site("novelfull", faults=NO_FAULTS) as site:
        body = {"url": site.novel_url(), "source": "novelfull"}
        novel = await _run(working.admin, "/api/job/create/fetch-novel", body)
        novel_id = novel["extra"]["novel_id"]
        create = "/api/job/create/fetch-volumes"
        volume = await _run(working.admin, create, {"volumes": [f"{novel_id}-v3"]})
        assert volume["status"] == JobStatus.SUCCESS and volume["done"] == 60, volume
        before = await _library_view(working.admin, novel_id)
        fetched, writes = _chapter_fetches(site), await library_writes(working)
        replay = await _run(working.admin, f"/api/job/{volume['id']}/replay")
        after = await _library_view(working.admin, novel_id)
    assert replay["status"] == JobStatus.SUCCESS, replay
    assert (replay["done"], replay["failed"], replay["progress"]) == (0, 0, 100), replay
    assert _chapter_fetches(site) == fetched and sum(fetched.values()) == 60
    assert await library_writes(working) == writes
    assert after == before
