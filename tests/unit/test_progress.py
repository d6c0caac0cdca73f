"""The one progress formula, and every reader serving it."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from api.includes import task_progress
from engine.domain.model import JobStatus
from engine.domain.progress import progress
from engine.domain.state import JobState
from projections.apply import row_of
from streams.frames import progress_data
from tests.unit.strategies import JOB_IDS

statuses = st.sampled_from(list(JobStatus))
counts = st.integers(min_value=0, max_value=10**9)


@given(statuses, counts, counts, counts)
def test_progress_is_0_to_100_and_total_covers_what_finished(
    status: int, done: int, failed: int, total: int
) -> None:
    p = progress(status, done, failed, total)
    assert 0 <= p.whole <= 100
    assert 0.0 <= p.percentage <= 100.0
    assert p.whole <= p.percentage  # whole rounds down, percentage to the nearest 0.1
    assert p.total == max(total, done + failed)


@given(statuses, counts, counts, counts, counts, counts)
def test_progress_never_decreases_as_done_and_failed_grow(
    status: int, done: int, failed: int, total: int, more_done: int, more_failed: int
) -> None:
    before = progress(status, done, failed, total)
    after = progress(status, done + more_done, failed + more_failed, total)
    assert after.whole >= before.whole
    assert after.percentage >= before.percentage


@given(counts, counts, counts)
def test_a_succeeded_job_is_100(done: int, failed: int, total: int) -> None:
    p = progress(JobStatus.SUCCESS, done, failed, total)
    assert (p.whole, p.percentage) == (100, 100.0)


def test_whole_rounds_down_and_percentage_to_a_tenth() -> None:
    third = progress(JobStatus.RUNNING, 1, 0, 3)
    assert (third.whole, third.percentage) == (33, 33.3)
    assert progress(JobStatus.RUNNING, 0, 1, 3) == third  # failed units count as finished
    nearly = progress(JobStatus.RUNNING, 2_498, 1, 2_500)  # 99.96 %
    assert (nearly.whole, nearly.percentage) == (99, 100.0)
    assert progress(JobStatus.FAILED, 0, 0, 0) == progress(JobStatus.PENDING, 0, 0, 0)
    assert progress(JobStatus.PENDING, 0, 0, 0).percentage == 0.0
    assert progress(JobStatus.RUNNING, 7, 0, 2).total == 7


@given(statuses, counts, counts, counts)
def test_every_reader_serves_the_formula(status: int, done: int, failed: int, total: int) -> None:
    state = JobState(
        id=JOB_IDS[0], user_id="u", type=0, priority=1, status=status, done=done,
        failed=failed, total=total,
    )  # fmt: skip
    p = progress(status, done, failed, total)
    row = row_of(state)
    assert row.progress == p.whole
    frame = progress_data(state)
    assert (frame["total"], frame["percentage"]) == (p.total, p.percentage)
    served = msgspec.to_builtins(task_progress(row))
    assert (served["total_tasks"], served["percentage"]) == (p.total, p.percentage)
