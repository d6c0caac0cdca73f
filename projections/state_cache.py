"""The projector's memory of the job states it wrote, so a batch does not decode them again.

A long novel's VOLUMEs record a group of chapters every fraction of a second, and each group
made the projector decode the volume's stored state (its params list its chapters, its
fold every URL done) to fold one event into it; each roll-up above it decoded the
VOLUME_BATCH's state, whose params list every chapter of the novel, and derived the ids of
all its children again. The projector's CPU per chapter doubled from a 1,000-chapter novel to
a 6,000-chapter one (bench/novel.py).

Sound because the projector is the read model's only writer and a job's state is the fold
of its events up to its `version`: a row whose `version` is the one remembered holds the
state remembered. So a read asks SQLite for each row's version and its state only where the
version differs (`LOAD`), and a state is remembered only once its transaction committed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

import msgspec

from engine.domain.batches import children_of
from engine.domain.state import JobState

SIZE = 1024  # states remembered at most; the least recently written are forgotten first
_V = TypeVar("_V")
_ChildrenKey = tuple[int, int, int, bool]  # what children_of reads of a job besides its id

# Each row's id and version, and `columns` (`STATE`) only when the version is not
# the one given for its id in the JSON object bound to the first `?` (the states remembered).
LOAD = """
SELECT j.id, j.version, {columns}
FROM jobs AS j LEFT JOIN json_each(?) AS c ON c.key = j.id
WHERE j.id IN ({marks})
"""
STATE = "CASE WHEN j.version = c.value THEN NULL ELSE j.state END"


class StateCache:
    """Job states by id, each as last written (with its `version`), and for roll-up jobs the
    ids of their children."""

    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        self._states: dict[str, JobState] = {}
        self._children: dict[str, tuple[_ChildrenKey, list[str]]] = {}

    def versions(self, ids: Iterable[str]) -> str:
        """The JSON object `LOAD` binds: {id: version} for the states remembered among `ids`
        (text: SQLite reads a blob as its binary JSON)."""
        known = {i: s.version for i in ids if (s := self._states.get(i)) is not None}
        return msgspec.json.encode(known).decode()

    def get(self, job_id: str, version: int) -> JobState | None:
        """The state remembered for `job_id` if it is the one at `version`."""
        state = self._states.get(job_id)
        return state if state is not None and state.version == version else None

    def resolve(
        self, rows: Iterable[Sequence[Any]], decode: Callable[[Any], JobState]
    ) -> list[JobState]:
        """The states of `LOAD`'s rows (id, version, state): the one remembered where the
        row's state was left out, else `decode(state)`."""
        out = []
        for job_id, version, state in rows:
            known = self.get(job_id, version) if state is None else None
            if known is None and state is None:  # cannot be: `versions` named only these
                raise LookupError(f"job {job_id}: its state was neither read nor remembered")
            out.append(known if known is not None else decode(state))
        return out

    def wrote(self, states: Iterable[JobState], gone: Collection[str] = ()) -> None:
        """Remember `states`, committed, as they are stored (without params); forget the jobs
        `gone` (purged)."""
        for state in states:
            self._states.pop(state.id, None)  # re-inserted last: the most recently written
            bare = msgspec.structs.replace(state, params={}) if state.params else state
            self._states[state.id] = bare
        for job_id in gone:
            self._states.pop(job_id, None)
            self._children.pop(job_id, None)
        _trim(self._states, self._size)

    def children(self, job: JobState) -> list[str]:
        """`children_of(job)`, derived again only when what it depends on changed (not at
        each child's end, which changes the job's version: a VOLUME_BATCH of 80 volumes
        derived 80 ids at each)."""
        key = _children_key(job)
        kept = self._children.get(job.id)
        if kept is not None and kept[0] == key:
            return kept[1]
        ids = children_of(job)
        self._children.pop(job.id, None)
        self._children[job.id] = (key, ids)
        _trim(self._children, self._size)
        return ids


def _children_key(job: JobState) -> _ChildrenKey:
    """What `children_of` reads of a job besides its id."""
    return job.type, job.expanded, job.total, bool(job.children)


def _trim(d: dict[str, _V], size: int) -> None:
    while len(d) > size:
        del d[next(iter(d))]
