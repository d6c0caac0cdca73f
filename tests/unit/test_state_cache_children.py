"""The projector's memory of a roll-up job's children ids: derived again only when what
they depend on changes, and always equal to `children_of`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

import projections.state_cache as state_cache
from engine.domain.batches import children_of
from engine.domain.model import JobType
from engine.domain.state import JobState
from engine.service import new_id
from projections.state_cache import StateCache

_TYPES = st.sampled_from([JobType.VOLUME_BATCH, JobType.SCRAPE_BATCH, JobType.FULL_NOVEL])


@given(steps=st.lists(st.tuples(_TYPES, st.integers(0, 3), st.integers(0, 5), st.booleans())))
def test_always_what_children_of_says(steps: list[tuple[JobType, int, int, bool]]) -> None:
    cache, job_id = StateCache(size=4), new_id()
    for version, (kind, expanded, total, has_children) in enumerate(steps, 1):
        job = JobState(
            id=job_id, user_id="u", type=int(kind), priority=1, status=1, version=version,
            expanded=expanded, total=total, children={"c": 1} if has_children else {},
        )  # fmt: skip
        assert cache.children(job) == children_of(job)


def test_a_childs_end_does_not_derive_them_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(job: JobState) -> list[str]:
        calls.append(job.id)
        return children_of(job)

    monkeypatch.setattr(state_cache, "children_of", counted)
    cache = StateCache()
    job = JobState(id=new_id(), user_id="u", type=int(JobType.VOLUME_BATCH), priority=1,
                   status=1, total=80, version=3)  # fmt: skip
    for version in range(3, 83):  # a child's end after another: a new version each time
        ids = cache.children(replace(job, version=version))
    assert len(ids) == 80 and len(calls) == 1
    cache.children(replace(job, total=81, version=90))
    assert len(calls) == 2  # one more child: derived again
