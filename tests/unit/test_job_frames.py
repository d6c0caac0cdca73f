"""A job's frames fold its state incrementally: the state they show is always `fold`'s."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.events import AnyEvent, PageRecorded
from engine.domain.state import Accumulator, JobState, evolve, fold
from streams.frames import JobFrames, is_final, progress_data
from tests.unit.strategies import JOB_IDS, URLS, by_job, run_steps, steps

JOB = JOB_IDS[0]
History = list[tuple[int, AnyEvent]]


def _stepwise(history: History) -> list[JobState]:
    """`evolve` event by event, each state stamped with its event's sequence."""
    out: list[JobState] = []
    state: JobState | None = None
    for seq, event in history:
        state = evolve(state, event)
        out.append(msgspec.structs.replace(state, version=seq))
    return out


@given(steps)
def test_frames_read_rarely_end_at_the_fold(raw: list[tuple[str, str, int]]) -> None:
    for history in by_job(run_steps(raw)).values():
        jf = JobFrames(None, 0, interval=3600.0)  # progress never due: pages stay unfrozen
        for seq, event in history:
            jf.on_event(seq, event, now=0.0)
        assert jf.state == fold(history)


@given(steps)
def test_frames_read_after_every_event_follow_evolve(raw: list[tuple[str, str, int]]) -> None:
    for history in by_job(run_steps(raw)).values():
        jf = JobFrames(None, 0, interval=0.0)  # a progress frame whenever counters moved
        for (seq, event), expected in zip(history, _stepwise(history), strict=True):
            frames = jf.on_event(seq, event, now=float(seq))
            assert jf.state == expected
            assert jf.ended == is_final(expected)
            for frame in frames:
                if frame.event == "progress":
                    assert frame.data == progress_data(expected)


@given(steps, st.data())
def test_frames_resume_from_a_fold(raw: list[tuple[str, str, int]], data: st.DataObject) -> None:
    for history in by_job(run_steps(raw)).values():
        cut = data.draw(st.integers(1, len(history)))
        jf = JobFrames(fold(history[:cut]), history[cut - 1][0], interval=3600.0)
        frames = jf.replay(history, now=0.0)  # the first `cut` events were sent already
        assert all(f.id > history[cut - 1][0] for f in frames)
        assert jf.state == fold(history)


def _page(n: int, url: str, ok: bool) -> PageRecorded:
    return PageRecorded(event_id=f"p{n}", job_id=JOB, at=2_000 + n, actor="w", url=url, ok=ok)


def test_a_long_crawl_folds_like_evolve() -> None:
    head = by_job(run_steps([("create", JOB, 0), ("start", JOB, 0)]))[JOB]
    pages = [_page(n, URLS[n % len(URLS)] + f"/{n % 50}", ok=n % 7 != 0) for n in range(500)]
    history = head + [(len(head) + 1 + n, p) for n, p in enumerate(pages)]
    jf = JobFrames(None, 0, interval=3600.0)
    for seq, event in history:
        jf.on_event(seq, event, now=0.0)
    assert jf.state == fold(history) == _stepwise(history)[-1]


def test_a_repeated_page_leaves_counters_that_children_set() -> None:
    # A page the job already has changes nothing in `evolve`, not even counters that child
    # events have set since; folding pages in sets must not recount them from the sets.
    raw = [("create", JOB, 0), ("start", JOB, 0), ("page", JOB, 1)]
    raw += [("child", JOB, 0), ("child", JOB, 1), ("page", JOB, 1)]
    history = by_job(run_steps(raw))[JOB]
    expected = _stepwise(history)[-1]
    assert expected.failed == 1  # from the failed child, though no URL failed
    assert fold(history) == expected
    acc = Accumulator()
    for seq, event in history:
        acc.apply(seq, event)
    assert acc.state == expected
