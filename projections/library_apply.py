"""The library tables, folded from the library's facts inside the projector's transaction.

Facts are the `novel_parsed`, `chapters_listed`, `chapter_stored`, `chapters_stored`,
`image_stored` and `artifact_stored` events of jobs the read model keeps. Each is also kept
in `library_facts` (with the user of its job), so a purge can re-derive what it touched:
every library row belongs to one novel and depends only on that novel's facts, in log
order. Purging a job deletes its facts and folds each novel they named again from the facts
that remain, which is what a rebuild from the erased log folds. (Content in the LIBRARY
stream and the object store is shared and stays; only the rows that describe it follow the
log.)

The rules, in log order:
- `novel_parsed` upserts the novel (first `created_at` kept), grants its job's user access,
  replaces the volumes, and makes its job the novel's table of contents (`toc_job_id`): the
  chapters listed so far leave the list (`in_toc` 0) until this job's parts list them again.
- `chapters_listed` of the current TOC job upserts chapters by id (a fetched chapter stays
  fetched); parts of an older TOC job are ignored.
- `chapter_stored` marks the chapter fetched (a row out of the TOC if none is listed yet) and
  records the images it shows, as not fetched unless known; `chapters_stored` does the same
  for each chapter it names.
- `image_stored` records an image's fetch: a failure never undoes an earlier success; a
  stored cover becomes the novel's cover.
- `artifact_stored` upserts the artifact (id = the ARTIFACT job's id), owned by its job's user.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import msgspec

from engine.domain.events import (
    AnyEvent,
    ArtifactStored,
    ChaptersListed,
    ChaptersStored,
    ChapterStored,
    ImageInfo,
    ImageStored,
    NovelParsed,
    StoredImage,
)
from engine.domain.state import JobState

Fact = NovelParsed | ChaptersListed | ChapterStored | ChaptersStored | ImageStored | ArtifactStored
FACTS = (NovelParsed, ChaptersListed, ChapterStored, ChaptersStored, ImageStored, ArtifactStored)
# Every table a novel's rows live in, and the column naming the novel.
NOVEL_TABLES = (
    ("novels", "id"),
    ("novel_access", "novel_id"),
    ("volumes", "novel_id"),
    ("chapters", "novel_id"),
    ("images", "novel_id"),
    ("artifacts", "novel_id"),
)

_encode = msgspec.json.Encoder().encode
_decode_fact = msgspec.json.Decoder(Fact).decode


def apply_library(
    db: sqlite3.Connection, kept: Sequence[tuple[int, AnyEvent]],
    states: Iterable[JobState | None],
) -> None:  # fmt: skip
    """Fold the library facts among `kept` (the batch's events of jobs the read model keeps)
    and forget the jobs `states` show purged. Runs inside the projector's transaction, before
    the checkpoint moves: facts at or below the checkpoint were folded already (a batch
    delivered again) and are skipped."""
    known = [s for s in states if s is not None]
    facts = [(seq, e) for seq, e in kept if isinstance(e, FACTS)]
    if facts:
        done = _checkpoint(db)
        users = {s.id: s.user_id for s in known}
        fresh = [(seq, e, users[e.job_id]) for seq, e in facts if seq > done]
        rows = [(seq, e.job_id, user, e.novel_id, _encode(e)) for seq, e, user in fresh]
        db.executemany("INSERT OR IGNORE INTO library_facts VALUES (?,?,?,?,?)", rows)
        for _, e, user in fresh:
            apply_fact(db, e, user)
    purged = [s.id for s in known if s.purged]
    if purged:
        forget_jobs(db, purged)


def _checkpoint(db: sqlite3.Connection) -> int:
    rows = db.execute("SELECT seq FROM checkpoint WHERE id = 1").fetchall()
    return int(rows[0][0]) if rows else 0


def forget_jobs(db: sqlite3.Connection, job_ids: Sequence[str]) -> None:
    """Delete the facts of `job_ids` and fold every novel they named again from the rest."""
    marks = ",".join("?" * len(job_ids))
    found = db.execute(
        f"SELECT DISTINCT novel_id FROM library_facts WHERE job_id IN ({marks})", job_ids
    ).fetchall()
    novels = sorted(str(r[0]) for r in found)
    if not novels:
        return
    db.execute(f"DELETE FROM library_facts WHERE job_id IN ({marks})", job_ids)
    for novel_id in novels:
        refold_novel(db, novel_id)


def refold_novel(db: sqlite3.Connection, novel_id: str) -> None:
    """Rebuild every row of the novel from its facts, in log order."""
    for table, column in NOVEL_TABLES:
        db.execute(f"DELETE FROM {table} WHERE {column} = ?", (novel_id,))
    facts = db.execute(
        "SELECT user_id, event FROM library_facts WHERE novel_id = ? ORDER BY seq", (novel_id,)
    ).fetchall()
    for user_id, data in facts:
        apply_fact(db, _decode_fact(data), str(user_id))


def apply_fact(db: sqlite3.Connection, e: Fact, user_id: str) -> None:
    """Fold one fact of a job of `user_id` into the library tables."""
    match e:
        case NovelParsed():
            _novel(db, e, user_id)
        case ChaptersListed():
            _listed(db, e)
        case ChapterStored():
            _chapter(db, e)
        case ChaptersStored():
            _chapters(db, e)
        case ImageStored():
            _image(db, e)
        case ArtifactStored():
            _artifact(db, e, user_id)


# The cover of a novel parsed again is kept; a new novel takes a cover stored before it.
_NOVEL = """
INSERT INTO novels VALUES (?,?,?,?,?,?,?,
    (SELECT id FROM images WHERE novel_id = ? AND cover = 1 AND fetched = 1 ORDER BY id LIMIT 1),
    ?,?,?,?,?)
ON CONFLICT(id) DO UPDATE SET url=excluded.url, source=excluded.source, title=excluded.title,
    authors=excluded.authors, synopsis=excluded.synopsis, tags=excluded.tags,
    toc_job_id=excluded.toc_job_id, volume_count=excluded.volume_count,
    chapter_count=excluded.chapter_count, updated_at=excluded.updated_at
"""


def _novel(db: sqlite3.Connection, e: NovelParsed, user_id: str) -> None:
    n = e.novel_id
    db.execute(
        _NOVEL,
        (n, e.url, e.source, e.title, _encode(e.authors), e.synopsis, _encode(e.tags), n,
         e.job_id, len(e.volumes), e.chapter_count, e.at, e.at),
    )  # fmt: skip
    db.execute("INSERT OR IGNORE INTO novel_access VALUES (?, ?)", (n, user_id))
    db.execute("DELETE FROM volumes WHERE novel_id = ?", (n,))
    volumes = [(v.id, n, v.serial, v.title, 0) for v in e.volumes]
    db.executemany("INSERT OR REPLACE INTO volumes VALUES (?,?,?,?,?)", volumes)
    db.execute("UPDATE chapters SET in_toc = 0 WHERE novel_id = ? AND in_toc = 1", (n,))


_LISTED = """
INSERT INTO chapters VALUES (?,?,?,?,?,?,1,0,0,'[]')
ON CONFLICT(novel_id, id) DO UPDATE SET volume_id=excluded.volume_id, serial=excluded.serial,
    title=excluded.title, url=excluded.url, in_toc=1
"""
_VOLUME_COUNTS = """
UPDATE volumes SET chapter_count = (
    SELECT count(*) FROM chapters c
    WHERE c.novel_id = volumes.novel_id AND c.volume_id = volumes.id AND c.in_toc = 1
) WHERE novel_id = ?
"""


def _listed(db: sqlite3.Connection, e: ChaptersListed) -> None:
    rows = db.execute("SELECT toc_job_id FROM novels WHERE id = ?", (e.novel_id,)).fetchall()
    if [tuple(r) for r in rows] != [(e.job_id,)]:  # no novel, or a newer TOC replaced this one
        return
    chapters = [(e.novel_id, c.id, c.volume_id, c.serial, c.title, c.url) for c in e.chapters]
    db.executemany(_LISTED, chapters)
    db.execute(_VOLUME_COUNTS, (e.novel_id,))


_STORED = """
INSERT INTO chapters VALUES (?,?,NULL,0,?,'',0,1,?,?)
ON CONFLICT(novel_id, id) DO UPDATE SET fetched=1, bytes=excluded.bytes, images=excluded.images
"""
_SHOWN = "INSERT OR IGNORE INTO images VALUES (?,?,?,?,0,'',0,NULL,0)"


def _images_json(images: Sequence[ImageInfo]) -> str:
    return _encode([{"id": i.id, "url": i.url} for i in images]).decode()


def _chapter(db: sqlite3.Connection, e: ChapterStored) -> None:
    db.execute(_STORED, (e.novel_id, e.chapter_id, e.title, e.bytes, _images_json(e.images)))
    shown = [(e.novel_id, i.id, e.chapter_id, i.url) for i in e.images]
    db.executemany(_SHOWN, shown)


def _chapters(db: sqlite3.Connection, e: ChaptersStored) -> None:
    n = e.novel_id
    stored = [(n, c.chapter_id, c.title, c.bytes, _images_json(c.images)) for c in e.chapters]
    db.executemany(_STORED, stored)
    shown = [(n, i.id, c.chapter_id, i.url) for c in e.chapters for i in c.images]
    db.executemany(_SHOWN, shown)
    if e.images:  # as their `image_stored` facts would (never a cover)
        db.executemany(_IMAGE, [_image_row(n, i) for i in e.images])


# A failed fetch records its error but leaves what an earlier success stored.
_IMAGE = """
INSERT INTO images VALUES (?,?,?,?,?,?,?,?,?)
ON CONFLICT(novel_id, id) DO UPDATE SET
    chapter_id=coalesce(excluded.chapter_id, images.chapter_id), url=excluded.url,
    error=excluded.error, fetched=max(images.fetched, excluded.fetched),
    content_type=CASE WHEN excluded.fetched THEN excluded.content_type ELSE images.content_type END,
    bytes=CASE WHEN excluded.fetched THEN excluded.bytes ELSE images.bytes END,
    cover=CASE WHEN excluded.fetched THEN excluded.cover ELSE images.cover END
"""


def _image_row(novel_id: str, e: ImageStored | StoredImage) -> tuple[object, ...]:
    ok, cover = int(e.ok), isinstance(e, ImageStored) and e.cover
    return (
        novel_id, e.image_id, e.chapter_id, e.url, ok, e.content_type if ok else "",
        e.bytes if ok else 0, e.error, int(cover),
    )  # fmt: skip


def _image(db: sqlite3.Connection, e: ImageStored) -> None:
    n = e.novel_id
    db.execute(_IMAGE, _image_row(n, e))
    if e.cover and e.ok:  # one cover object per novel: an older cover's bytes are gone
        db.execute("UPDATE novels SET cover_image_id = ? WHERE id = ?", (e.image_id, n))
        db.execute(
            "UPDATE images SET fetched = 0 WHERE novel_id = ? AND cover = 1 AND id != ?",
            (n, e.image_id),
        )


_ARTIFACT = """
INSERT INTO artifacts VALUES (?,?,?,?,?,?,?,?,?)
ON CONFLICT(id) DO UPDATE SET novel_id=excluded.novel_id, job_id=excluded.job_id,
    user_id=excluded.user_id, format=excluded.format, file_name=excluded.file_name,
    content_type=excluded.content_type, bytes=excluded.bytes, created_at=excluded.created_at
"""


def _artifact(db: sqlite3.Connection, e: ArtifactStored, user_id: str) -> None:
    db.execute(
        _ARTIFACT,
        (e.artifact_id, e.novel_id, e.job_id, user_id, e.format, e.file_name, e.content_type,
         e.bytes, e.at),
    )  # fmt: skip
