"""The runs a batch's children are created in: order kept, bounded, and a child never in
the run of the job it depends on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.dispatcher.children import CREATE_AT_ONCE, _runs
from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope
from engine.domain.model import JobType
from engine.service import new_id


def _create(depends_on: str | None = None) -> CreateJob:
    return CreateJob(
        **command_envelope(new_id(), "u"), user_id="u", type=int(JobType.SCRAPE), priority=1,
        params={}, title="t", depends_on=depends_on,
    )  # fmt: skip


@given(st.lists(st.one_of(st.none(), st.integers(0, 300)), max_size=300))
def test_runs_keep_order_and_size_and_part_dependents(links: list[int | None]) -> None:
    """Each create may depend on an earlier one (by position)."""
    creates: list[CreateJob] = []
    for link in links:
        earlier = creates[link].job_id if link is not None and link < len(creates) else None
        creates.append(_create(earlier))
    runs = list(_runs(creates))
    assert [c for run in runs for c in run] == creates
    assert all(0 < len(run) <= CREATE_AT_ONCE for run in runs)
    for run in runs:
        ids = {c.job_id for c in run}
        assert not any(c.depends_on in ids for c in run)


def test_a_run_is_cut_at_a_dependent_and_at_the_size() -> None:
    first = [_create() for _ in range(5)]
    dependent = _create(first[3].job_id)
    later = [_create() for _ in range(CREATE_AT_ONCE)]
    runs = list(_runs([*first, dependent, *later]))
    assert [len(r) for r in runs] == [5, CREATE_AT_ONCE, 1]
