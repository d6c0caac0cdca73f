"""A FULL_NOVEL's progress in the read model: the sum of the chapters below it, moving chapter
by chapter, reaching 100 when it succeeds, and the same however the log is batched.

The log is the one the dispatcher and workers write for a FULL_NOVEL tree (expanded job >
VOLUME_BATCH > VOLUMEs, and an ARTIFACT after the batch), made here by carrying out the
same commands through a JobService on an in-memory log; it is applied to real SQLite.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.batches import child_id, expansion_child_id, planned_units
from engine.domain.commands import (
    AnyCommand,
    CreateJob,
    ExpandJob,
    FinishJob,
    RecordChild,
    StartJob,
)
from engine.domain.envelope import command_envelope, event_envelope
from engine.domain.events import AnyEvent, ChildSpec, PageRecorded
from engine.domain.model import JobStatus, JobType
from engine.memory_log import MemoryEventLog
from engine.service import JobService, new_id
from projections.apply import apply_batch
from projections.queries import table_dump
from projections.schema import open_db
from projections.state_cache import StateCache


def _volume(volume_id: str, serials: range) -> dict[str, Any]:
    chapters = [{"id": f"c{i}", "url": f"https://n.test/c{i}"} for i in serials]
    return {"volume_id": volume_id, "chapters": chapters}


VOLUMES = [_volume("v1", range(1, 4)), _volume("v2", range(4, 6))]


class Tree:
    """Writes a FULL_NOVEL tree's log as the dispatcher and a worker would."""

    def __init__(self) -> None:
        self.store = MemoryEventLog()
        self.jobs = JobService(self.store)
        self.root = new_id()
        self.batch = expansion_child_id(self.root, 0)
        self.epub = expansion_child_id(self.root, 1)
        self.volumes = [child_id(self.batch, j) for j in range(len(VOLUMES))]

    async def do(self, command: AnyCommand) -> None:
        await self.jobs.execute(command)

    async def create(self, job_id: str, job_type: JobType, **kw: Any) -> None:
        env = command_envelope(job_id, "dispatcher")
        await self.do(CreateJob(**env, user_id="u1", type=int(job_type), priority=1, **kw))

    async def run(self, job_id: str, *, ok: bool = True, by: str = "w") -> None:
        await self.do(FinishJob(**command_envelope(job_id, by), ok=ok, error=None if ok else "x"))

    async def start(self, job_id: str, by: str = "w") -> None:
        await self.do(StartJob(**command_envelope(job_id, by), worker_id=by))

    async def ended(self, parent: str, child: str, status: JobStatus) -> None:
        env = command_envelope(parent, "dispatcher")
        await self.do(RecordChild(**env, child_id=child, status=int(status)))

    async def page(self, job_id: str, url: str, ok: bool) -> None:
        event = PageRecorded(
            **event_envelope(job_id, "w"), url=url, ok=ok, status=200 if ok else 503
        )
        await self.store.append_unchecked(event)

    async def write(self, failed_chapter: str | None = None) -> list[AnyEvent]:
        """The whole tree's log, in order; `failed_chapter` is fetched and fails."""
        await self.create(self.root, JobType.FULL_NOVEL, params={"url": "https://n.test/"})
        await self.start(self.root)
        await self.page(self.root, "https://n.test/", ok=True)  # the novel's page
        children = [
            ChildSpec(type=int(JobType.VOLUME_BATCH), params={"volumes": VOLUMES}, total=2),
            ChildSpec(type=int(JobType.ARTIFACT), params={"formats": ["epub"]}, after=0),
        ]
        await self.do(ExpandJob(**command_envelope(self.root, "w"), children=children, units=6))
        await self.create(self.batch, JobType.VOLUME_BATCH, parent_job_id=self.root, total=2)
        await self.create(self.epub, JobType.ARTIFACT, parent_job_id=self.root,
                          depends_on=self.batch, after_finished=True)  # fmt: skip
        for vid, volume in zip(self.volumes, VOLUMES, strict=True):
            total = planned_units(volume)
            await self.create(vid, JobType.VOLUME, parent_job_id=self.batch, total=total)
        await self.start(self.batch, "dispatcher")
        for vid, volume in zip(self.volumes, VOLUMES, strict=True):
            await self.volume(vid, volume["chapters"], failed_chapter)
        await self.close(self.batch, self.volumes)
        await self.start(self.epub)
        await self.run(self.epub)
        await self.ended(self.root, self.epub, JobStatus.SUCCESS)
        await self.close(self.root, [self.batch, self.epub])
        return await self.log()

    async def volume(self, vid: str, chapters: Any, failed_chapter: str | None) -> None:
        await self.start(vid)
        for chapter in chapters:
            await self.page(vid, chapter["url"], ok=chapter["id"] != failed_chapter)
        ok = failed_chapter not in [c["id"] for c in chapters]
        await self.run(vid, ok=ok)
        await self.ended(self.batch, vid, JobStatus.SUCCESS if ok else JobStatus.FAILED)

    async def close(self, parent: str, children: list[str]) -> None:
        """The dispatcher's roll-up end: the parent finishes after its last child."""
        states = [await self.store.load(c) for c in children]
        failed = sum(1 for s in states if s is not None and s.status != JobStatus.SUCCESS)
        env = command_envelope(parent, "dispatcher")
        error = f"{failed} of {len(children)} children failed" if failed else None
        await self.do(FinishJob(**env, ok=not failed, error=error))
        if parent == self.batch:
            state = await self.store.load(parent)
            assert state is not None
            await self.ended(self.root, parent, JobStatus(state.status))

    async def log(self) -> list[AnyEvent]:
        ids = [self.root, self.batch, self.epub, *self.volumes]
        stored = [s for job_id in ids for s in await self.store.history(job_id)]
        return [s.event for s in sorted(stored, key=lambda s: s.seq)]


def _tree_log(failed_chapter: str | None = None) -> tuple[Tree, list[AnyEvent]]:
    tree = Tree()
    return tree, asyncio.run(tree.write(failed_chapter))


async def _root_rows(path: Path, log: list[AnyEvent], root: str) -> list[tuple[Any, ...]]:
    """The root's (status, done, failed, total, progress) after each event, applied one by one."""
    db = await open_db(path)
    rows = []
    try:
        for seq, event in enumerate(log, start=1):
            await apply_batch(db, [(seq, event)])
            sql = "SELECT status, done, failed, total, progress FROM jobs WHERE id = ?"
            found = list(await db.execute_fetchall(sql, (root,)))
            rows.append(tuple(found[0]))
    finally:
        await db.close()
    return rows


def test_full_novel_progress_moves_chapter_by_chapter_to_100(tmp_path: Path) -> None:
    tree, log = _tree_log()
    rows = asyncio.run(_root_rows(tmp_path / "rm.db", log, tree.root))
    progress = [r[4] for r in rows]
    assert progress == sorted(progress) and progress[-1] == 100  # never backwards
    assert rows[2][1:] == (0, 0, 1, 0)  # the novel's page is no chapter
    after_expansion = rows[4:]
    assert {r[3] for r in after_expansion} == {6}  # 5 chapters + the epub, from the start
    finished = [r[1] + r[2] for r in after_expansion]
    assert sorted(set(finished)) == [0, 1, 2, 3, 4, 5, 6]  # one chapter at a time, then the epub
    assert rows[-1] == (JobStatus.SUCCESS, 6, 0, 6, 100)


def test_a_failed_chapter_is_counted_failed_and_the_novel_fails(tmp_path: Path) -> None:
    tree, log = _tree_log(failed_chapter="c2")
    rows = asyncio.run(_root_rows(tmp_path / "rm.db", log, tree.root))
    assert rows[-1] == (JobStatus.FAILED, 5, 1, 6, 100)
    batch = asyncio.run(_row(tmp_path / "rm.db", tree.batch))
    assert batch == (JobStatus.FAILED, 4, 1, 5)  # the volume batch counts chapters too


async def _row(path: Path, job_id: str) -> tuple[Any, ...]:
    db = await open_db(path)
    try:
        sql = "SELECT status, done, failed, total FROM jobs WHERE id = ?"
        return tuple(next(iter(await db.execute_fetchall(sql, (job_id,)))))
    finally:
        await db.close()


async def _dump(path: Path, log: list[AnyEvent], cuts: list[int], cache: StateCache | None) -> Any:
    seqs = list(enumerate(log, start=1))
    bounds = [0, *sorted(set(cuts)), len(seqs)]
    db = await open_db(path)
    try:
        for lo, hi in itertools.pairwise(bounds):
            if hi > lo:
                await apply_batch(db, seqs[lo:hi], cache)
        return await table_dump(db)
    finally:
        await db.close()


_TREE, _LOG = _tree_log(failed_chapter="c4")


@settings(max_examples=30)
@given(st.lists(st.integers(1, len(_LOG) - 1), max_size=10))
def test_the_sums_are_the_same_however_the_log_is_batched(cuts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # live: the states and children ids remembered from batch to batch, as a projector does
        live = asyncio.run(_dump(Path(tmp) / "live.db", _LOG, cuts, StateCache()))
        rebuilt = asyncio.run(_dump(Path(tmp) / "rebuilt.db", _LOG, [], None))
    assert live == rebuilt
