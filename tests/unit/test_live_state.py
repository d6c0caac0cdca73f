"""The watch state folded from SSE frames, and what it draws, without a terminal."""

from __future__ import annotations

import io
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from cli.live_state import (
    Bar,
    WatchState,
    children_settled,
    exit_code,
    final_line,
    jobs_table,
    on_children_frame,
    on_job_frame,
    view,
)
from engine.domain.model import JobStatus, JobType

JOB = "01JOBJOBJOBJOBJOBJOBJOBJOB"
counts = st.integers(min_value=0, max_value=10_000)
statuses = st.sampled_from(list(JobStatus))


def job_object(job_id: str, status: int, done: int, failed: int, total: int) -> dict[str, Any]:
    progress = {
        "total_tasks": total, "completed_tasks": done, "failed_tasks": failed,
        "skipped_tasks": 0, "percentage": 50.0,
    }  # fmt: skip
    return {
        "id": job_id, "job_title": f"title {job_id}", "type": JobType.SCRAPE, "status": status,
        "done": done, "failed": failed, "total": total, "progress": progress, "error": None,
    }  # fmt: skip


@st.composite
def job_frames(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """A job stream after its snapshot: pages, logs, progress and status frames, then done."""
    kinds = draw(st.lists(st.sampled_from(["page", "log", "progress", "status"]), max_size=30))
    frames: list[tuple[str, dict[str, Any]]] = []
    for kind in kinds:
        if kind == "page":
            frames.append(("page", {"url": f"http://x/{len(frames)}", "ok": True, "status": 200}))
        elif kind == "log":
            frames.append(("log", {"level": "info", "message": f"line {len(frames)}"}))
        else:
            data = {
                "status": 1, "done": draw(counts), "failed": draw(counts),
                "total": draw(counts), "skipped": 0, "percentage": 12.5,
            }  # fmt: skip
            frames.append((kind, data))
    end = {
        "status": draw(statuses.filter(lambda s: s.is_done)), "done": draw(counts),
        "failed": draw(counts), "total": draw(counts), "skipped": 0, "percentage": 100.0,
        "error": draw(st.none() | st.text(min_size=1, max_size=20)), "deleted": False,
    }  # fmt: skip
    return [*frames, ("done", end)]


@given(job_frames(), st.integers(min_value=1, max_value=1000))
def test_the_state_follows_the_last_counters_and_ids_of_the_frames(
    frames: list[tuple[str, dict[str, Any]]], first: int
) -> None:
    state = on_job_frame(
        WatchState(job=Bar(id=JOB)), "snapshot", job_object(JOB, 0, 0, 0, 0), first
    )
    seq = first
    for event, data in frames:
        seq += 1
        assert not state.finished
        state = on_job_frame(state, event, data, seq)
        assert state.last_id == seq
        if event in ("progress", "status", "done"):
            got = (state.job.status, state.job.done, state.job.failed, state.job.total)
            assert got == (data["status"], data["done"], data["failed"], data["total"])
    end = frames[-1][1]
    assert state.finished and state.job.error == end["error"]
    assert exit_code(state) == (0 if end["status"] == JobStatus.SUCCESS else 1)


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_an_error_frame_moves_the_resume_point_to_the_one_it_names(seen: int, resume: int) -> None:
    state = WatchState(job=Bar(id=JOB), last_id=seen)
    after = on_job_frame(state, "error", {"reason": "too slow", "resume": resume}, resume)
    assert after.last_id == resume and after.job == state.job and not after.finished


child_ids = st.sampled_from([f"C{i}" for i in range(6)])
child_frames = st.lists(
    st.one_of(
        st.tuples(st.just("status"), child_ids, statuses, counts),
        st.tuples(st.just("progress"), child_ids, statuses, counts),
        st.tuples(st.just("removed"), child_ids, statuses, counts),
        st.tuples(st.just("snapshot"), child_ids, statuses, counts),
    ),
    max_size=40,
)


@given(child_frames)
def test_children_follow_a_plain_model_of_the_feed(frames: list[tuple[str, str, int, int]]) -> None:
    state = WatchState(job=Bar(id=JOB, total=2), type=JobType.NOVEL_BATCH)
    model: dict[str, tuple[int, int]] = {}
    for event, child, status, done in frames:
        obj = job_object(child, status, done, 0, 1)
        if event == "snapshot":
            data: dict[str, Any] = {"total": 1, "items": [obj]}
            model = {child: (status, done)}
        elif event == "removed":
            data = {"id": child}
            model.pop(child, None)
        else:
            data = obj
            model[child] = (status, done)
        state = on_children_frame(state, event, data)
    assert {k: (b.status, b.done) for k, b in state.children.items()} == model
    all_ended = all(JobStatus(s).is_done for s, _ in model.values())
    assert children_settled(state) == (len(model) >= 2 and all_ended)


@given(statuses, counts, counts, st.floats(min_value=0, max_value=1e5))
def test_the_final_line_names_the_job_its_outcome_and_counts(
    status: JobStatus, done: int, failed: int, seconds: float
) -> None:
    state = WatchState(job=Bar(id=JOB, status=status, done=done, failed=failed, error="boom"))
    line = final_line(state, seconds)
    assert line.startswith("✓" if status == JobStatus.SUCCESS else "✗")
    assert f"job {JOB} " in line and f"{done} ok, {failed} failed in " in line
    assert re.search(r"in \d+\.\d s", line)
    assert ("boom" in line) == (status == JobStatus.FAILED)
    assert exit_code(state) == (0 if status == JobStatus.SUCCESS else 1)
    assert exit_code(WatchState(job=state.job, deleted=True)) == 1


def rendered(renderable: Any, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue().splitlines()


def test_a_narrow_terminal_shortens_titles_but_keeps_status_and_counts() -> None:
    children = {f"C{i}": Bar(id=f"C{i}", title="http://example.com/" + "x" * 80, status=i % 5,
                             done=i, failed=1, total=3) for i in range(25)}  # fmt: skip
    state = WatchState(
        job=Bar(id=JOB, title="a batch", status=1, done=10, failed=2, total=25, percentage=48.0),
        type=JobType.NOVEL_BATCH, children=children, last_log="info: halfway",
    )  # fmt: skip
    lines = rendered(view(state), 80)
    assert all(len(line) <= 80 for line in lines)
    assert "running" in lines[0] and "48.0%" in lines[0] and "10 ok · 2 fail / 25" in lines[0]
    nested = [line for line in lines if "└" in line]
    assert len(nested) == 20  # then a count of the others
    assert all(re.search(r"(pending|running|success|failed|canceled) ", line) for line in nested)
    assert all(re.search(r"(pending|running) ", line) for line in nested[:10])  # unfinished first
    assert "… and 5 more" in lines[21]
    assert lines[-1].strip() == "info: halfway"


def test_the_listing_keeps_whole_ids() -> None:
    jobs = [job_object(f"01J{i:023d}", i % 5, i, 0, 10) for i in range(3)]
    text = "\n".join(rendered(jobs_table(jobs, 7), 160))
    assert all(j["id"] in text for j in jobs)
    assert "3 of 7 jobs" in text and "scrape" in text
