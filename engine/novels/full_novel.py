"""FULL_NOVEL: NOVEL, then the job is handed to its children.

The NOVEL part (:func:`engine.novels.handlers.read_novel`) records the novel and its table of
contents; the job then expands into a VOLUME_BATCH of every volume (each VOLUME fetches its
chapters) and an epub ARTIFACT that runs once the batch has finished, whatever its outcome,
so an e-book is made of what could be fetched. The dispatcher creates the children and ends
the job when they have: FAILED when a chapter failed, though the epub was made. Its progress
in the read model counts the chapters and the epub (see projections/rollup.py).

A retry of a FULL_NOVEL that failed re-runs only what failed (the VOLUME_BATCH's failed
VOLUMEs, each fetching only its failed chapters) and then makes the epub again, since it was
made after the batch (`after`): the dispatcher re-runs a child that ran after a retried
sibling, so the new file holds the chapters fetched this time.

A novel without chapters is not expanded: the job succeeds, saying so in its log.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine.domain.events import ChildSpec
from engine.domain.model import JobType
from engine.novels.handlers import NovelParams, NovelRun, params_of, read_novel
from engine.novels.model import NovelInfo

EPUB = "epub"


class FullNovelRun(NovelRun, Protocol):
    """A novel run that may hand its job to children (the worker's run context)."""

    async def expand(self, children: list[ChildSpec], units: int) -> bool: ...


async def read_and_expand(run: FullNovelRun) -> bool:
    """Run NOVEL, then expand the job; whether it was handed off (expanded, now or by an
    earlier attempt). False when there is nothing to hand off (no chapters) or a cancel was
    asked for first. NovelJobFailed and Stopped from the NOVEL part pass through."""
    if run.job.expanded:  # a redelivered or resumed run after the hand-off: nothing to do
        return True
    novel = await read_novel(run)
    if not novel.chapters:
        await run.log("info", f"{novel.title}: no chapters, so nothing to fetch or bind")
        return False
    source = params_of(run.job, NovelParams).source_name
    return await run.expand(children(run.job.id, novel, source), units=len(novel.chapters) + 1)


def children(job_id: str, novel: NovelInfo, source: str) -> list[ChildSpec]:
    """[0] a VOLUME_BATCH with one VOLUME's params per volume; [1] an epub ARTIFACT of the
    novel, binding the table of contents this job (`job_id`) recorded, after [0]."""
    volumes = volume_params(novel, source)
    count = len(novel.chapters)
    batch = ChildSpec(
        type=int(JobType.VOLUME_BATCH), params={"volumes": volumes}, total=len(volumes),
        title=f"{novel.title} · {count} chapter{'s' if count != 1 else ''}",
    )  # fmt: skip
    epub = ChildSpec(
        type=int(JobType.ARTIFACT), title=f"{novel.title} · {EPUB}", after=0,
        params={"novel_id": novel.id, "formats": [EPUB], "toc_job_id": job_id},
    )  # fmt: skip
    return [batch, epub]


def volume_params(novel: NovelInfo, source: str) -> list[dict[str, Any]]:
    """A VOLUME's params for each volume with chapters, in reading order."""
    by_volume: dict[int, list[dict[str, Any]]] = {}
    for c in novel.chapters:
        item = {"id": c.id, "url": c.url, "title": c.title, "serial": c.serial}
        by_volume.setdefault(c.volume, []).append(item)
    return [
        {"novel_id": novel.id, "volume_id": f"{novel.id}-v{v.serial}", "source": source,
         "chapters": by_volume[v.serial], "refresh": False,
         "title": f"{novel.title} · Volume {v.serial}"}
        for v in novel.volumes
        if by_volume.get(v.serial)
    ]  # fmt: skip
