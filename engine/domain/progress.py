"""How far a job is: the one progress formula every reader serves (read model, streams, API)."""

from __future__ import annotations

import msgspec

from engine.domain.model import JobStatus


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """A job's progress: `total` is never below what it finished; `percentage` is the part
    finished to 0.1 (what progress bars show), `whole` the same in whole percent, rounded down
    (lncrawl's Jobs API `progress`). Both are 0..100, and 100 once the job succeeded."""

    total: int
    percentage: float
    whole: int


def progress(status: int, done: int, failed: int, total: int) -> Progress:
    """The progress of a job in `status` that finished `done` + `failed` of `total` units.

    Finished units count whether they succeeded or failed; for a given status and total the
    result never decreases as they grow.
    """
    finished = done + failed
    total = max(total, finished)
    if status == JobStatus.SUCCESS:
        return Progress(total=total, percentage=100.0, whole=100)
    if total <= 0:
        return Progress(total=total, percentage=0.0, whole=0)
    percent = round(100.0 * finished / total, 1)
    return Progress(total=total, percentage=percent, whole=100 * finished // total)
