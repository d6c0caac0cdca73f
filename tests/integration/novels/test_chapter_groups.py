"""Chapter groups on a real JetStream: a group's bodies are in LIBRARY before its event is
queued; a full group is recorded at once, a smaller one within GROUP_EVERY_S; what is left is
recorded by `close`; a store that fails is raised."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS
from ulid import ULID

from engine.domain.events import ChaptersStored, Event, StoredChapter
from engine.domain.model import JobType
from engine.domain.state import JobState
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.library import LIBRARY_STREAM, Chapter, LibraryStore
from engine.novels import stored
from engine.novels.stored import ChapterGroups
from tests.support import wait_until

NOVEL = "0123456789abcdef"
JOB = str(ULID())


class _Run:
    """What a ChapterGroups uses of a job's run; `record` keeps each event with the chapter
    ids LIBRARY held when it was given."""

    def __init__(self, library: LibraryStore) -> None:
        self.library = library
        self.job = JobState(id=JOB, user_id="u", type=JobType.VOLUME, priority=1, attempts=1)
        self.worker_id = "w"
        self.ok_urls: set[str] = set()
        self.failed_urls: set[str] = set()
        self.recorded: list[tuple[Event, str, set[str]]] = []

    async def record(self, event: Event, msg_id: str, body: object = None) -> None:
        self.recorded.append((event, msg_id, await self.library.stored_chapter_ids(NOVEL)))


def _chapter(library: LibraryStore, n: int) -> tuple[StoredChapter, tuple[str, bytes]]:
    cid = f"{n:016x}"
    message = library.chapter_message(NOVEL, cid, Chapter(title=f"C{n}", html=f"<p>{n}</p>"))
    return StoredChapter(chapter_id=cid, url=f"https://n.test/{n}", bytes=len(message[1])), message


def _groups(run: _Run) -> list[list[str]]:
    return [[c.chapter_id for c in e.chapters] for e, _, _ in run.recorded
            if isinstance(e, ChaptersStored)]  # fmt: skip


async def test_groups_are_recorded_by_size_by_time_and_at_close(
    nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored, "GROUP_MOST", 3)
    run = _Run(await LibraryStore.open(nc))
    groups = ChapterGroups(run, NOVEL)  # type: ignore[arg-type]  # the parts it uses
    for n in range(1, 5):
        await groups.add(*_chapter(run.library, n))
    assert _groups(run) == [[f"{n:016x}" for n in (1, 2, 3)]]  # full: recorded at once
    assert run.ok_urls == {f"https://n.test/{n}" for n in range(1, 5)}
    await wait_until(lambda: len(run.recorded) == 2)  # the fourth, by the timer
    await groups.add(*_chapter(run.library, 5))
    await groups.close()  # the fifth, at once
    assert _groups(run)[1:] == [[f"{4:016x}"], [f"{5:016x}"]]
    for event, msg_id, held in run.recorded:
        assert isinstance(event, ChaptersStored) and event.job_id == JOB
        assert {c.chapter_id for c in event.chapters} <= held  # bodies first
        assert msg_id == f"{JOB}:chapters:{event.chapters[0].chapter_id}:1"


async def test_a_failed_store_is_raised_and_nothing_is_recorded(nc: NATS) -> None:
    run = _Run(await LibraryStore.open(nc, timeout=0.5))  # no answer: given up after 0.5 s
    groups = ChapterGroups(run, NOVEL)  # type: ignore[arg-type]  # the parts it uses
    await groups.add(*_chapter(run.library, 1))
    await nc.jetstream().delete_stream(LIBRARY_STREAM)  # no stream takes the bodies now
    with pytest.raises(StoreUnavailable):
        await groups.close()
    assert run.recorded == []
