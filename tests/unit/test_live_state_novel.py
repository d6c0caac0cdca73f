"""A chapter-counted job's watch state: counters from its row's roll-up, not its stream."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cli.live_state import Bar, WatchState, final_line, on_children_rows, on_job_frame, on_job_row
from engine.domain.model import JobStatus, JobType

JOB = "01JOBJOBJOBJOBJOBJOBJOBJOB"


def row(done: int, total: int, *, job_type: int = JobType.FULL_NOVEL, job_id: str = JOB,
        failed: int = 0, status: int = JobStatus.RUNNING) -> dict[str, Any]:  # fmt: skip
    return {"id": job_id, "type": job_type, "status": status, "done": done,
            "failed": failed, "total": total, "progress": 100 * done // max(total, 1)}  # fmt: skip


def watching(job_type: int) -> WatchState:
    return on_job_frame(WatchState(job=Bar(id=JOB)), "snapshot", row(0, 2, job_type=job_type), 1)


def test_stream_frames_of_a_full_novel_leave_its_chapter_counters_alone() -> None:
    state = on_job_row(watching(JobType.FULL_NOVEL), row(40, 261))
    state = on_job_frame(state, "progress", {"done": 1, "total": 2, "percentage": 50.0}, 2)
    state = on_job_frame(state, "done", {"status": JobStatus.SUCCESS, "done": 2, "total": 2}, 3)
    assert (state.job.done, state.job.total, state.job.status) == (40, 261, JobStatus.SUCCESS)


def test_other_jobs_keep_their_streams_counters() -> None:
    state = on_job_row(watching(JobType.SCRAPE_BATCH), row(40, 261))
    assert (state.job.done, state.job.total) == (0, 2)


@given(st.lists(st.integers(min_value=0, max_value=261), min_size=1))
def test_rows_read_out_of_order_never_move_the_bar_back(reads: list[int]) -> None:
    state = watching(JobType.FULL_NOVEL)
    for done in reads:
        state = on_job_row(state, row(done, 261))
    assert state.job.done == max(reads)


def test_the_final_line_counts_the_volume_batchs_chapters() -> None:
    state = on_job_row(watching(JobType.FULL_NOVEL), row(261, 261, status=JobStatus.SUCCESS))
    state = on_job_frame(state, "done", {"status": JobStatus.SUCCESS}, 9)
    assert final_line(state, 1.25) == f"✓ job {JOB} success: 261 of 261 chapters, 0 failed in 1.2 s"
    batch = row(259, 260, job_type=JobType.VOLUME_BATCH, job_id="B", failed=1)
    state = on_children_rows(state, [batch])
    assert final_line(state, 1.25).endswith(": 259 of 260 chapters, 1 failed in 1.2 s")
