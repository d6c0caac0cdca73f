"""A novel put in the library directly, as a finished NOVEL job and stored content would
leave it: the job's facts appended to the log, chapter bodies, images and the cover stored
with LibraryStore. No site is fetched."""

from __future__ import annotations

from collections.abc import Collection

import msgspec
from ulid import ULID

from engine.domain.envelope import event_envelope
from engine.domain.events import (
    ChapterInfo,
    ChaptersListed,
    JobCreated,
    JobStarted,
    JobSucceeded,
    NovelParsed,
    VolumeInfo,
)
from engine.domain.model import JobType, Priority
from engine.jetstream.library import Chapter, LibraryStore, cover_object, image_object
from engine.jetstream.store import EventStore
from engine.novels.model import url_id
from tests.unit.artifacts.books import png

NOVEL_URL = "http://novels.test/novel/the-quiet-tide"
NOVEL_ID = url_id(NOVEL_URL)
TITLE = "The Quiet Tide — Ça ira"
MAP_URL = "http://novels.test/images/map.png"
WEBP_URL = "http://novels.test/images/dot.webp"
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 \x00\x00\x00\x00"


def marker(serial: int) -> str:
    """A word found only in that chapter's text (ASCII, so every format keeps it)."""
    return f"zephyrquartz{serial:03d}"


class Shelved(msgspec.Struct, frozen=True, kw_only=True):
    """A novel put in the library: the NOVEL job holding its contents, its chapters, and the
    log sequence of the job's last event (for `Projector.wait_for`)."""

    toc_job_id: str
    chapters: list[ChapterInfo]
    seq: int


def contents(volumes: int, per_volume: int) -> tuple[list[VolumeInfo], list[ChapterInfo]]:
    infos = [VolumeInfo(id=f"{NOVEL_ID}-v{v}", serial=v, title=f"Book {v}")
             for v in range(1, volumes + 1)]  # fmt: skip
    chapters: list[ChapterInfo] = []
    for volume in infos:
        for _ in range(per_volume):
            serial = len(chapters) + 1
            url = f"{NOVEL_URL}/chapter-{serial}"
            chapters.append(ChapterInfo(
                id=url_id(url), serial=serial, title=f"Chapter {serial}: Ærø", url=url,
                volume_id=volume.id,
            ))  # fmt: skip
    return infos, chapters


def body(serial: int) -> Chapter:
    """Chapter `serial`'s body as the cleaner stores it; the first shows a PNG and a WebP."""
    images = ""
    if serial == 1:
        images = f'<p><img src="{MAP_URL}" alt="a map"/><img src="{WEBP_URL}" alt=""/></p>'
    text = f"<p>Il était une fois, {marker(serial)} — «naïve» café.</p><p>Second &amp; last.</p>"
    return Chapter(title=f"Chapter {serial}: Ærø", html=text + images)


async def shelve(
    store: EventStore, library: LibraryStore, user_id: str, *, volumes: int = 2,
    per_volume: int = 3, part_size: int = 500, missing: Collection[int] = (),
) -> Shelved:  # fmt: skip
    """The novel in `user_id`'s library: every chapter's body stored but those whose serial
    is in `missing`, the cover and the first chapter's images stored, and the NOVEL job's
    facts appended (`put_novel`)."""
    _, chapters = contents(volumes, per_volume)
    for info in chapters:
        if info.serial not in missing:
            await library.put_chapter(NOVEL_ID, info.id, body(info.serial))
    await library.put_file(cover_object(NOVEL_ID), png(60, 90, (200, 30, 30)), "image/png")
    await library.put_file(image_object(NOVEL_ID, url_id(MAP_URL)), png(8, 4, (0, 90, 9)),
                           "image/png")  # fmt: skip
    await library.put_file(image_object(NOVEL_ID, url_id(WEBP_URL)), WEBP, "image/webp")
    return await put_novel(store, user_id, volumes=volumes, per_volume=per_volume,
                           part_size=part_size)  # fmt: skip


async def put_novel(
    store: EventStore, user_id: str, *, volumes: int = 2, per_volume: int = 3,
    part_size: int = 500,
) -> Shelved:  # fmt: skip
    """A finished NOVEL job of `user_id` whose log holds the novel's contents (in parts of
    `part_size` chapters): the novel is in the user's library once the read model has it.
    Stores no content."""
    infos, chapters = contents(volumes, per_volume)
    job_id = str(ULID())
    parts = [chapters[i : i + part_size] for i in range(0, len(chapters), part_size)]
    events = [
        JobCreated(**event_envelope(job_id, user_id), user_id=user_id, type=JobType.NOVEL,
                   priority=Priority.NORMAL, params={"url": NOVEL_URL}, title=NOVEL_URL),
        JobStarted(**event_envelope(job_id, "w"), worker_id="w"),
        NovelParsed(
            **event_envelope(job_id, "w"), novel_id=NOVEL_ID, url=NOVEL_URL, source="test",
            title=TITLE, authors=["Zoë Ångström"], synopsis="<p>A tide &amp; a town.</p>",
            tags=["sea"], volumes=infos, chapter_count=len(chapters), parts=len(parts),
        ),
        *(ChaptersListed(**event_envelope(job_id, "w"), novel_id=NOVEL_ID, part=p,
                         chapters=part) for p, part in enumerate(parts)),
        JobSucceeded(**event_envelope(job_id, "w")),
    ]  # fmt: skip
    seq = await store.append(events, expected=0)
    return Shelved(toc_job_id=job_id, chapters=chapters, seq=seq)
