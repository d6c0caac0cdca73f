"""The library's fold rules and queries, on a real SQLite file fed by `apply_batch`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from ulid import ULID

from engine.domain.envelope import event_envelope
from engine.domain.events import AnyEvent, JobCreated, JobDeleted, JobPurged
from engine.domain.model import JobType
from projections import library
from projections.apply import apply_batch
from projections.schema import open_db
from tests.library_facts import (
    artifact,
    chapter_infos,
    hex_id,
    image,
    image_info,
    listed,
    parsed,
    stored,
)

NOVEL, OTHER = hex_id("novel"), hex_id("other")
ALICE, BOB = "alice", "bob"


class Log:
    """A read model fed one event at a time, as the projector feeds a quiet log."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self.seq = 0

    async def add(self, *events: AnyEvent) -> None:
        for event in events:
            self.seq += 1
            await apply_batch(self.db, [(self.seq, event)])

    async def job(self, user: str, job_type: JobType = JobType.NOVEL) -> str:
        job_id = str(ULID())
        created = JobCreated(
            **event_envelope(job_id, user), user_id=user, type=job_type, priority=1
        )
        await self.add(created)
        return job_id


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[Log]:
    db = await open_db(tmp_path / "read.db")
    yield Log(db)
    await db.close()


async def test_a_newer_toc_replaces_the_list_and_fetched_chapters_stay_fetched(log: Log) -> None:
    first = await log.job(ALICE)
    await log.add(parsed(first, NOVEL, title="Old", chapters=3))
    await log.add(listed(first, NOVEL, chapter_infos(NOVEL, 3)))
    one, two, three = chapter_infos(NOVEL, 3)
    await log.add(stored(first, NOVEL, two.id, size=321))

    again = await log.job(BOB)
    await log.add(parsed(again, NOVEL, title="New", chapters=150, parts=2))
    total, chapters = await library.novel_chapters(log.db, NOVEL, 0, 100)
    assert (total, chapters) == (0, [])  # until the new parts arrive
    late = listed(first, NOVEL, chapter_infos(NOVEL, 3))
    await log.add(late)  # a part of the older TOC job: ignored
    assert (await library.novel_chapters(log.db, NOVEL, 0, 100))[0] == 0

    infos = chapter_infos(NOVEL, 150, first=2)  # chapter 1 left the TOC
    await log.add(listed(again, NOVEL, infos[:100]), listed(again, NOVEL, infos[100:], part=1))
    total, page = await library.novel_chapters(log.db, NOVEL, 0, 3)
    assert total == 150
    assert [(c.id, c.serial, c.fetched, c.bytes) for c in page] == [
        (two.id, 2, True, 321),
        (three.id, 3, False, 0),
        (infos[2].id, 4, False, 0),
    ]
    novel = await library.get_novel(log.db, NOVEL, None)
    assert novel is not None and (novel.title, novel.toc_job_id) == ("New", again)
    assert (novel.volume_count, novel.chapter_count) == (2, 150)
    volumes = await library.novel_volumes(log.db, NOVEL)
    assert [(v.id, v.chapter_count) for v in volumes] == [(f"{NOVEL}-v1", 99), (f"{NOVEL}-v2", 51)]
    volume = await library.get_volume(log.db, f"{NOVEL}-v1", BOB)
    assert volume is not None and [c.serial for c in volume.chapters] == list(range(2, 101))
    assert await library.latest_toc_job(log.db, NOVEL) == again
    old = await library.get_chapter(log.db, one.id, ALICE)  # out of the TOC, still readable
    assert old is not None and old.volume_id == f"{NOVEL}-v1" and not old.fetched


async def test_visibility_follows_the_users_novel_jobs_and_artifacts_their_maker(log: Log) -> None:
    job = await log.job(ALICE)
    await log.add(parsed(job, NOVEL, title="Mine", chapters=1))
    await log.add(listed(job, NOVEL, chapter_infos(NOVEL, 1)))
    [chapter] = chapter_infos(NOVEL, 1)
    picture = image_info("https://img.test/a.png")
    maker = await log.job(ALICE, JobType.ARTIFACT)
    await log.add(stored(job, NOVEL, chapter.id, images=[picture]), artifact(maker, NOVEL))

    for viewer, sees in ((ALICE, True), (None, True), (BOB, False)):
        found = [
            await library.get_novel(log.db, NOVEL, viewer),
            await library.get_volume(log.db, f"{NOVEL}-v1", viewer),
            await library.get_chapter(log.db, chapter.id, viewer),
            await library.get_image(log.db, picture.id, viewer),
            await library.get_artifact(log.db, maker, viewer),
        ]
        assert [x is not None for x in found] == [sees] * 5, viewer
        assert (await library.list_novels(log.db, viewer, None, 0, 10))[0] == int(sees)
    bobs = await log.job(BOB)
    await log.add(parsed(bobs, NOVEL, title="Mine", chapters=1))  # Bob fetches it too
    assert await library.get_chapter(log.db, chapter.id, BOB) is not None
    assert await library.get_artifact(log.db, maker, BOB) is None  # Alice's file stays hers
    assert await library.novel_artifacts(log.db, NOVEL, BOB) == []
    assert [a.id for a in await library.novel_artifacts(log.db, NOVEL, ALICE)] == [maker]


async def test_images_a_failure_never_undoes_a_success_and_the_cover(log: Log) -> None:
    job = await log.job(ALICE)
    cover, new_cover = image_info("https://img.test/c1.jpg"), image_info("https://img.test/c2.jpg")
    await log.add(parsed(job, NOVEL, title="N", chapters=1))
    [chapter] = chapter_infos(NOVEL, 1)
    shown = [image_info("https://img.test/1.png"), image_info("https://img.test/2.png")]
    await log.add(stored(job, NOVEL, chapter.id, images=shown))
    await log.add(image(job, NOVEL, shown[0], chapter_id=chapter.id, size=77))
    await log.add(image(job, NOVEL, shown[0], ok=False, chapter_id=chapter.id))
    await log.add(image(job, NOVEL, shown[1], ok=False, chapter_id=chapter.id))
    got = await library.get_chapter(log.db, chapter.id, ALICE)
    assert got is not None
    assert [(i.id, i.fetched) for i in got.images] == [(shown[0].id, True), (shown[1].id, False)]
    row = await library.get_image(log.db, shown[0].id, ALICE)
    assert row is not None and (row.fetched, row.bytes, row.content_type) == (True, 77, "image/png")
    assert row.error == "HTTP 404" and not row.cover

    await log.add(image(job, NOVEL, cover, cover=True, content_type="image/jpeg"))
    novel = await library.get_novel(log.db, NOVEL, ALICE)
    assert novel is not None and novel.cover_image_id == cover.id
    await log.add(parsed(job, NOVEL, title="N again", chapters=1))  # a re-parse keeps it
    await log.add(image(job, NOVEL, new_cover, cover=True))
    novel = await library.get_novel(log.db, NOVEL, ALICE)
    assert novel is not None and novel.cover_image_id == new_cover.id
    old = await library.get_image(log.db, cover.id, ALICE)
    assert old is not None and old.cover and not old.fetched  # its bytes were replaced


async def test_search_pages_and_literal_wildcards(log: Log) -> None:
    job = await log.job(ALICE)
    titles = ["beta 100%", "Alpha_One", "alpha two", "Gamma"]
    for i, title in enumerate(titles):
        await log.add(parsed(job, hex_id(title), title=title, chapters=1, at=1000 + i))
    total, rows = await library.list_novels(log.db, ALICE, None, 1, 2)
    assert total == 4 and [r.title for r in rows] == ["Alpha_One", "beta 100%"]  # " " < "_"
    assert [r.title for r in (await library.list_novels(log.db, ALICE, "ALPHA", 0, 9))[1]] == [
        "alpha two",
        "Alpha_One",
    ]
    assert [r.title for r in (await library.list_novels(log.db, None, "a_o", 0, 9))[1]] == [
        "Alpha_One"
    ]
    assert (await library.list_novels(log.db, ALICE, "%", 0, 9))[0] == 1
    assert (await library.list_novels(log.db, ALICE, "zeta", 0, 9)) == (0, [])
    assert (await library.list_novels(log.db, ALICE, None, 10, 9)) == (4, [])


async def test_deleting_a_job_keeps_its_facts_purging_it_refolds(log: Log) -> None:
    alices, bobs = await log.job(ALICE), await log.job(BOB)
    await log.add(parsed(alices, NOVEL, title="By Alice", chapters=1))
    await log.add(parsed(bobs, NOVEL, title="By Bob", chapters=1))
    await log.add(parsed(bobs, OTHER, title="Other", chapters=1))
    await log.add(JobDeleted(**event_envelope(bobs, BOB)))
    novel = await library.get_novel(log.db, NOVEL, BOB)
    assert novel is not None and novel.title == "By Bob"
    await log.add(JobPurged(**event_envelope(bobs, "admin")))
    novel = await library.get_novel(log.db, NOVEL, None)
    assert novel is not None and (novel.title, novel.toc_job_id) == ("By Alice", alices)
    assert await library.get_novel(log.db, NOVEL, BOB) is None
    assert await library.get_novel(log.db, OTHER, None) is None  # only Bob's job named it
    late = parsed(bobs, OTHER, title="Late", chapters=1)  # a write after the purge
    await log.add(late)
    assert await library.get_novel(log.db, OTHER, None) is None
