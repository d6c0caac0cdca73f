"""The batch policy: which child type a batch spawns, from which items, under which ids.

Pure: a batch's children are a function of the batch alone, so the dispatcher re-spawning a
batch (after a redelivery) creates nothing new, and purge and the roll-up find the same ids.
"""

from __future__ import annotations

from typing import Any

from ulid import ULID

from engine.domain.model import BATCH_TYPES, JobType
from engine.domain.state import JobState

# batch type -> (child type, params key holding the items, child params key)
CHILD_OF: dict[JobType, tuple[JobType, str, str]] = {
    JobType.NOVEL_BATCH: (JobType.NOVEL, "urls", "url"),
    JobType.FULL_NOVEL_BATCH: (JobType.FULL_NOVEL, "urls", "url"),
    JobType.CHAPTER_BATCH: (JobType.CHAPTER, "chapters", "chapters"),
    JobType.VOLUME_BATCH: (JobType.VOLUME, "volumes", "volumes"),
    JobType.IMAGE_BATCH: (JobType.IMAGE, "images", "images"),
    JobType.ARTIFACT_BATCH: (JobType.ARTIFACT, "formats", "formats"),
    JobType.SCRAPE_BATCH: (JobType.SCRAPE, "urls", "urls"),
}


def child_id(parent_id: str, index: int) -> str:
    """Deterministic id of a batch's `index`-th child: re-spawning creates nothing new."""
    return str(ULID.from_int(int(ULID.from_str(parent_id)) + index + 1))


def child_ids(parent_id: str, total: int) -> list[str]:
    """The ids of all `total` children of batch `parent_id`, in index order."""
    return [child_id(parent_id, index) for index in range(total)]


def spawned_by(parent: JobState, job_id: str) -> bool:
    """Whether `job_id` is one of the children the dispatcher spawned for batch `parent`."""
    if parent.type not in BATCH_TYPES:
        return False
    index = int(ULID.from_str(job_id)) - int(ULID.from_str(parent.id)) - 1
    return 0 <= index < parent.total


def child_params(parent: JobState, item: Any) -> dict[str, Any]:
    _, items_key, child_key = CHILD_OF[JobType(parent.type)]
    rest = {k: v for k, v in parent.params.items() if k != items_key}
    value = item if child_key in ("url",) else [item]
    return {**rest, child_key: value}
