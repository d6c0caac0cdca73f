"""`chapters_stored`: each chapter it names folds as an OK page of its job and is sent as a
`page` frame, like the `page` event it replaces."""

from __future__ import annotations

from engine.domain.events import (
    AnyEvent,
    ChaptersStored,
    ImageInfo,
    PageRecorded,
    RetryRequested,
    StoredChapter,
)
from engine.domain.state import fold
from streams.frames import JobFrames
from tests.unit.strategies import JOB_IDS, by_job, run_steps

JOB = JOB_IDS[0]
NOVEL = "0123456789abcdef"


def _chapter(n: int) -> StoredChapter:
    image = ImageInfo(id=f"{n:016x}", url=f"https://n.test/{n}.png")
    return StoredChapter(
        chapter_id=f"{n:016x}", url=f"https://n.test/chapter-{n}", title=f"Chapter {n}",
        bytes=100 + n, images=[image] if n % 2 else [], duration_ms=n, fetched=1000 + n,
    )  # fmt: skip


def _group(n: int, chapters: list[int]) -> ChaptersStored:
    return ChaptersStored(
        event_id=f"g{n}", job_id=JOB, at=3_000 + n, actor="w", novel_id=NOVEL,
        chapters=[_chapter(c) for c in chapters],
    )  # fmt: skip


def _failed(n: int) -> PageRecorded:
    url = _chapter(n).url
    return PageRecorded(event_id=f"f{n}", job_id=JOB, at=2_000 + n, actor="w", url=url, ok=False)


def _history(*events: AnyEvent) -> list[tuple[int, AnyEvent]]:
    head = by_job(run_steps([("create", JOB, 0), ("start", JOB, 0)]))[JOB]
    return head + [(len(head) + 1 + i, e) for i, e in enumerate(events)]


def test_each_chapter_counts_as_an_ok_page_once() -> None:
    history = _history(_failed(3), _group(1, [1, 2, 3]), _group(2, [2, 4]))
    state = fold(history)
    assert state is not None
    assert state.ok_urls == {_chapter(n).url for n in (1, 2, 3, 4)}
    assert not state.failed_urls  # chapter 3 failed first, then was stored
    assert (state.done, state.failed) == (4, 0)


def test_a_retry_keeps_the_stored_chapters_and_forgets_the_failed_ones() -> None:
    retry = RetryRequested(event_id="r", job_id=JOB, at=4_000, actor="u")
    state = fold(_history(_group(1, [1, 2]), _failed(5), retry))
    assert state is not None
    assert state.ok_urls == {_chapter(1).url, _chapter(2).url} and not state.failed_urls


def test_a_group_is_sent_as_one_page_frame_per_chapter() -> None:
    history = _history(_group(7, [1, 2, 3]))
    frames = JobFrames(None, 0, interval=0.0).replay(history, now=1.0)
    pages = [f for f in frames if f.event == "page"]
    seq = history[-1][0]
    assert [f.data["url"] for f in pages] == [_chapter(n).url for n in (1, 2, 3)]
    assert all(f.id == seq and f.data["ok"] and f.data["status"] == 200 for f in pages)
    assert pages[1].data["bytes"] == 1002 and pages[1].data["duration_ms"] == 2
    (progress,) = [f for f in frames if f.event == "progress" and f.id == seq]
    assert progress.data["done"] == 3
