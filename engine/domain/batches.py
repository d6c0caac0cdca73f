"""The batch policy: which child type a batch spawns, from which items, under which ids.

Pure: a batch's children are a function of the batch alone, so the dispatcher re-spawning a
batch (after a redelivery) creates nothing new, and purge and the roll-up find the same ids.
An expanded job (a handler fanned it out, see `JobExpanded`) has children the same way: its
expansion's `children[i]` is `expansion_child_id(job, i)`.

A SCRAPE_BATCH is one job that fetches its URLs itself. One made before that (a log may hold
it) had a SCRAPE child per URL, under `child_id`: such a legacy batch still counts its
children's ends, retries and purges them (`LEGACY_BATCH_TYPES`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ulid import ULID

from engine.domain.model import BATCH_TYPES, JobType
from engine.domain.state import JobState

# batch type -> (child type, params key holding the items, child params key); an empty child
# key: each item is its child's params (merged over the batch's other keys)
CHILD_OF: dict[JobType, tuple[JobType, str, str]] = {
    JobType.NOVEL_BATCH: (JobType.NOVEL, "urls", "url"),
    JobType.FULL_NOVEL_BATCH: (JobType.FULL_NOVEL, "urls", "url"),
    JobType.CHAPTER_BATCH: (JobType.CHAPTER, "chapters", "chapters"),
    JobType.VOLUME_BATCH: (JobType.VOLUME, "volumes", ""),
    JobType.IMAGE_BATCH: (JobType.IMAGE, "images", "images"),
    JobType.ARTIFACT_BATCH: (JobType.ARTIFACT, "formats", "formats"),
}

# Types that once spawned a child per item and no longer do. Only a job of such a type that
# has children (its `children` hold an ended one) is treated as a batch; a new one never has
# any, and a child of an old one is still counted by its id (`spawned_by`).
LEGACY_BATCH_TYPES = frozenset({JobType.SCRAPE_BATCH})


# Job types whose handler may expand the job: only for these does the dispatcher read a
# job's history to learn whether it has children (a crawl's history is long and has none).
EXPANDING_TYPES = frozenset({JobType.FULL_NOVEL})


def is_parent(job: JobState) -> bool:
    """Whether the job has children that the dispatcher makes: a batch or an expanded job
    (or a legacy batch one of whose children has ended)."""
    return job.type in BATCH_TYPES or job.expanded > 0 or _legacy_parent(job)


def _legacy_parent(job: JobState) -> bool:
    return job.type in LEGACY_BATCH_TYPES and bool(job.children)


def child_count(job: JobState) -> int:
    """How many children the job has: its expansion's, a batch's `total`, else none."""
    if job.expanded:
        return job.expanded
    return job.total if job.type in BATCH_TYPES or _legacy_parent(job) else 0


# Batches whose progress counts the work units of their children (a VOLUME's chapters)
# rather than the children: with expanded jobs, what the read model rolls up (`rolls_up_units`).
UNIT_BATCHES = frozenset({JobType.VOLUME_BATCH})


def rolls_up_units(job: JobState) -> bool:
    """Whether the job's progress is the sum of its children's units: an expanded job, a
    batch of volumes (a FULL_NOVEL's progress then moves chapter by chapter), or a job that
    may yet expand (its own pages, a novel's page before its chapters are known, are no
    measure of its work: it shows none done until its children do some)."""
    if job.expanded > 0 or job.type in UNIT_BATCHES:
        return True
    return job.type in EXPANDING_TYPES and not job.is_done


def child_id(parent_id: str, index: int) -> str:
    """Deterministic id of a batch's `index`-th child: re-spawning creates nothing new."""
    return str(ULID.from_int(int(ULID.from_str(parent_id)) + index + 1))


def child_ids(parent_id: str, total: int) -> list[str]:
    """The ids of all `total` children of batch `parent_id`, in index order."""
    return [child_id(parent_id, index) for index in range(total)]


def expansion_child_id(parent_id: str, index: int) -> str:
    """Deterministic id of an expanded job's `index`-th child: the parent's time, and 80 bits
    of a hash of (parent, index) where a ULID has its random part.

    Not `child_id`: an expansion's child may be a batch, and parent + 1's first child would
    be parent + 2, its own sibling; a batch's children may expand, and the first child's
    children would be the batch's next ones. Hashed ids fall anywhere in the random space.
    """
    digest = hashlib.sha256(f"{parent_id}:{index}".encode()).digest()
    parent_time = int(ULID.from_str(parent_id)) >> 80 << 80
    return str(ULID.from_int(parent_time | int.from_bytes(digest[:10], "big")))


def children_of(job: JobState) -> list[str]:
    """The ids of the job's children, in index order: an expansion's, a batch's, or none."""
    if job.expanded:
        return [expansion_child_id(job.id, index) for index in range(job.expanded)]
    return child_ids(job.id, job.total) if job.type in BATCH_TYPES or _legacy_parent(job) else []


def spawned_by(parent: JobState, job_id: str) -> bool:
    """Whether `job_id` is one of the children the dispatcher made for `parent` (a batch or
    an expanded job)."""
    if parent.expanded:
        return job_id in children_of(parent)
    index = int(ULID.from_str(job_id)) - int(ULID.from_str(parent.id)) - 1
    # a legacy batch's first child to end comes before `children` marks it as a batch
    count = parent.total if parent.type in LEGACY_BATCH_TYPES else child_count(parent)
    return 0 <= index < count


def child_params(parent: JobState, item: Any) -> dict[str, Any]:
    """A batch child's params: the batch's other keys, with the item under the child key (a
    URL as is, anything else in a one-item list), or the item itself when it is the params
    (a volume: `{novel_id, volume_id, source, chapters, refresh}`)."""
    _, items_key, child_key = CHILD_OF[JobType(parent.type)]
    rest = {k: v for k, v in parent.params.items() if k != items_key}
    if not child_key:
        return {**rest, **item} if isinstance(item, dict) else {**rest, items_key: [item]}
    value = item if child_key in ("url",) else [item]
    return {**rest, child_key: value}


def child_title(item: Any) -> str:
    """A batch child's title: an item's own `title` (or id) when it is an object, else the
    item (a URL, an id, a format)."""
    if isinstance(item, dict):
        for key in ("title", "volume_id", "id", "url"):
            if isinstance(item.get(key), str) and item[key]:
                return str(item[key])
    return str(item)


def planned_units(item: Any) -> int:
    """The progress total a batch item's child starts with: a volume's chapters, else 1."""
    chapters = item.get("chapters") if isinstance(item, dict) else None
    return len(chapters) if isinstance(chapters, list) and chapters else 1
