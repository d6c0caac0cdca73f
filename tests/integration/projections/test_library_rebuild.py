"""The library tables: a rebuild from what the log still holds equals the live tables, for
any history of library facts from two users' jobs, purges included (a purge erases the job's
earlier events from the log, so the rebuild never sees them)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ulid import ULID

from engine.domain.envelope import event_envelope
from engine.domain.events import (
    AnyEvent,
    ChaptersStored,
    JobCreated,
    JobPurged,
    StoredChapter,
    StoredImage,
)
from engine.domain.model import JobType
from projections.apply import apply_batch
from projections.library import library_dump
from projections.schema import open_db, read_checkpoint
from projections.state_cache import StateCache
from tests.library_facts import (
    artifact,
    chapter_infos,
    chapter_url,
    hex_id,
    image,
    image_info,
    listed,
    parsed,
    stored,
)

JOBS = [str(ULID.from_int(i << 80)) for i in range(1, 5)]
NOVELS = [hex_id("novel-a"), hex_id("novel-b")]
Log = list[tuple[int, AnyEvent]]


def _image_url(novel_id: str, arg: int) -> str:
    return f"https://img.test/{novel_id}/{arg % 3}.png"


def _fact(kind: str, job: str, novel: str, arg: int, at: int) -> AnyEvent:
    match kind:
        case "parse":
            count = arg % 3 + 1
            return parsed(job, novel, title=f"T{arg}", chapters=count, at=at)
        case "list":
            return listed(job, novel, chapter_infos(novel, arg % 3 + 1, first=arg % 2 + 1), at=at)
        case "store":
            chapter = hex_id(chapter_url(novel, arg % 4 + 1))
            return stored(
                job, novel, chapter, size=arg, images=[image_info(_image_url(novel, arg))], at=at
            )
        case "group":  # one or two chapters fetched by a run, with an image each
            serials = [arg % 4 + 1, (arg + 1) % 4 + 1][: arg % 2 + 1]
            chapters = [
                StoredChapter(
                    chapter_id=hex_id(chapter_url(novel, k)), url=chapter_url(novel, k),
                    title=f"C{k}", bytes=arg + k, images=[image_info(_image_url(novel, arg + k))],
                )
                for k in serials
            ]  # fmt: skip
            envelope = event_envelope(job, "w", at=at)
            images = [_stored_image(c, ok=arg % 3 != 0) for c in chapters]  # stored, or failed
            return ChaptersStored(**envelope, novel_id=novel, chapters=chapters, images=images)
        case "image":
            cover = arg % 4 == 3
            shown_in = None if cover else hex_id(chapter_url(novel, arg % 4 + 1))
            info = image_info(_image_url(novel, arg // 2))
            return image(job, novel, info, ok=arg % 2 == 0, cover=cover, chapter_id=shown_in, at=at)
        case "artifact":
            return artifact(job, novel, fmt=("epub", "txt")[arg % 2], size=arg, at=at)
        case _:
            return JobPurged(**event_envelope(job, "admin", at=at))


def _stored_image(chapter: StoredChapter, *, ok: bool) -> StoredImage:
    (shown,) = chapter.images
    return StoredImage(
        image_id=shown.id, url=shown.url, chapter_id=chapter.chapter_id, ok=ok,
        content_type="image/png" if ok else "", bytes=len(shown.url) if ok else 0,
        error=None if ok else "HTTP 404",
    )  # fmt: skip


def history(raw: list[tuple[str, int, int, int]]) -> Log:
    """Four jobs of two users, created first, then the library facts and purges of `raw`."""
    log: list[AnyEvent] = [
        JobCreated(**event_envelope(job, f"u{i % 2}", at=1_000 + i), user_id=f"u{i % 2}",
                   type=JobType.NOVEL, priority=1)
        for i, job in enumerate(JOBS)
    ]  # fmt: skip
    for n, (kind, job, novel, arg) in enumerate(raw):
        if kind == "artifact":  # an ARTIFACT job makes the e-books of one novel, its params'
            novel = job // 2
        log.append(_fact(kind, JOBS[job], NOVELS[novel], arg, 2_000 + n))
    return list(enumerate(log, start=1))


def erased(log: Log) -> Log:
    """What the log holds after its purges: each purged job's events before its tombstone go."""
    last_purge = {e.job_id: seq for seq, e in log if isinstance(e, JobPurged)}
    return [(seq, e) for seq, e in log if seq >= last_purge.get(e.job_id, 0)]


async def _apply(
    path: Path, log: Log, cuts: list[int], restarts: set[int], cache: StateCache | None = None
) -> Any:
    """Apply `log` in batches split at `cuts`, reopening the file at `restarts` and delivering
    the last few events again then, as after a crash before the acknowledgement."""
    bounds = [0, *sorted(set(cuts)), len(log)]
    db = await open_db(path)
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if hi <= lo:
            continue
        if i in restarts:
            await db.close()
            db = await open_db(path)
            checkpoint = await read_checkpoint(db)
            again = [item for item in log[:lo] if item[0] > checkpoint - 3]
            if again:
                await apply_batch(db, again, cache)
        await apply_batch(db, log[lo:hi], cache)
    dump = await library_dump(db)
    await db.close()
    return dump


KINDS = ["parse", "list", "list", "store", "store", "group", "image", "artifact", "purge"]
steps = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 3), st.integers(0, 1), st.integers(0, 11)),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.lists(st.integers(0, 45), max_size=20), st.sets(st.integers(0, 20), max_size=4))
def test_rebuild_from_the_erased_log_equals_live(
    raw: list[tuple[str, int, int, int]], cuts: list[int], restarts: set[int]
) -> None:
    """Live: in batches cut anywhere, restarted anywhere, and one event at a time (as the
    projector applies a quiet log); rebuilt: what the log holds after the purges, at once."""
    log = history(raw)
    cuts = [c for c in cuts if 0 < c < len(log)]
    with tempfile.TemporaryDirectory() as tmp:
        live = asyncio.run(_apply(Path(tmp) / "live.db", log, cuts, restarts, StateCache(size=2)))
        one_by_one = asyncio.run(
            _apply(Path(tmp) / "each.db", log, list(range(len(log))), set(), StateCache())
        )
        rebuilt = asyncio.run(_apply(Path(tmp) / "rebuilt.db", erased(log), [], set()))
    assert live == rebuilt
    assert one_by_one == rebuilt


def test_the_generated_histories_exercise_purges_that_change_the_library() -> None:
    """The property above is not vacuous: a purge of the job that parsed a novel, after
    another job parsed it too, changes the live tables (and the rebuild agrees)."""
    raw = [("parse", 0, 0, 1), ("list", 0, 0, 1), ("parse", 1, 0, 5), ("list", 1, 0, 2)]
    raw += [("store", 2, 0, 1), ("artifact", 1, 0, 0)]
    with tempfile.TemporaryDirectory() as tmp:
        before = asyncio.run(_apply(Path(tmp) / "a.db", history(raw), [], set()))
        log = history([*raw, ("purge", 1, 0, 0)])
        after = asyncio.run(_apply(Path(tmp) / "b.db", log, [3, 7], {1}))
        rebuilt = asyncio.run(_apply(Path(tmp) / "c.db", erased(log), [], set()))
    assert after == rebuilt
    assert [r[3] for r in before["novels"]] == ["T5"]
    assert [r[3] for r in after["novels"]] == ["T1"]  # the first parse is the novel again
    assert before["artifacts"] and not after["artifacts"]
    assert {r[1] for r in before["novel_access"]} == {"u0", "u1"}
    assert {r[1] for r in after["novel_access"]} == {"u0"}


def test_a_group_marks_each_of_its_chapters_fetched_with_its_images() -> None:
    raw = [("parse", 0, 0, 2), ("list", 0, 0, 2), ("group", 0, 0, 1)]  # chapters 2 and 3
    with tempfile.TemporaryDirectory() as tmp:
        dump = asyncio.run(_apply(Path(tmp) / "g.db", history(raw), [], set()))
    grouped = {hex_id(chapter_url(NOVELS[0], k)): k for k in (2, 3)}
    fetched = {r[1]: r for r in dump["chapters"] if r[7]}
    assert set(fetched) == set(grouped)
    assert all(fetched[c][8] == 1 + k for c, k in grouped.items())  # bytes: arg + serial
    shown = {(r[1], r[2]) for r in dump["images"]}  # (image id, chapter id)
    assert shown == {(hex_id(_image_url(NOVELS[0], 1 + k)), c) for c, k in grouped.items()}
