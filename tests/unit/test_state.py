from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.commands import CancelJob, CreateJob, DeleteJob, FinishJob, RetryJob, StartJob
from engine.domain.decide import decide
from engine.domain.errors import InvalidHistory, JobConflict, JobNotFound, NothingToRetry
from engine.domain.events import CancelRequested, Codec, JobCanceled, JobDeleted, PageRecorded
from engine.domain.model import JobStatus
from engine.domain.state import JobState, evolve, fold
from tests.unit.strategies import JOB_IDS, by_job, cmd, run_steps, steps

JOB = JOB_IDS[0]


@given(steps)
def test_every_decided_event_is_accepted_by_evolve(raw: list[tuple[str, str, int]]) -> None:
    log = run_steps(raw)  # raises if evolve rejects anything decide produced
    for history in by_job(log).values():
        state = fold(history)
        assert state is not None
        assert state.status in set(JobStatus)
        assert state.done == len(state.ok_urls) or state.children
        assert not (state.ok_urls & state.failed_urls)


@given(steps)
def test_one_pass_fold_equals_event_by_event(raw: list[tuple[str, str, int]]) -> None:
    for history in by_job(run_steps(raw)).values():
        stepwise: JobState | None = None
        for _, event in history:
            stepwise = evolve(stepwise, event)
        assert stepwise is not None
        assert fold(history) == msgspec.structs.replace(stepwise, version=history[-1][0])


@given(steps, st.data())
def test_fold_resumes_from_any_point(raw: list[tuple[str, str, int]], data: st.DataObject) -> None:
    for history in by_job(run_steps(raw)).values():
        cut = data.draw(st.integers(1, len(history)))
        assert fold(history[cut:], fold(history[:cut])) == fold(history)


@given(steps)
def test_every_event_round_trips_through_the_codec(raw: list[tuple[str, str, int]]) -> None:
    codec = Codec()
    for event in run_steps(raw):
        assert codec.decode(codec.encode(event)) == event


def test_fold_rejects_out_of_order_sequences() -> None:
    log = run_steps([("create", JOB, 0), ("start", JOB, 1), ("finish", JOB, 0)])
    with pytest.raises(InvalidHistory):
        fold([(2, log[0]), (1, log[1])])
    with pytest.raises(InvalidHistory):
        fold([(1, log[1])])  # no `created` first


def _created() -> JobState:
    events = decide(None, cmd(CreateJob, 1, user_id="u0", type=10, priority=1))
    state = fold([(1, events[0])])
    assert state is not None
    return state


def test_cancel_pending_is_immediate_and_running_is_cooperative() -> None:
    pending = _created()
    assert [type(e) for e in decide(pending, cmd(CancelJob, 2))] == [JobCanceled]
    running = fold([(2, decide(pending, cmd(StartJob, 2, worker_id="w"))[0])], pending)
    assert running is not None and running.status == JobStatus.RUNNING
    assert [type(e) for e in decide(running, cmd(CancelJob, 3))] == [CancelRequested]
    requested = fold([(3, decide(running, cmd(CancelJob, 3))[0])], running)
    assert decide(requested, cmd(CancelJob, 4)) == []
    ended = fold([(4, decide(requested, cmd(FinishJob, 4, ok=True))[0])], requested)
    assert ended is not None and ended.status == JobStatus.CANCELED


def test_finished_jobs_refuse_cancel_and_deleted_jobs_are_gone() -> None:
    state = _created()
    state = fold([(2, decide(state, cmd(CancelJob, 2))[0])], state)
    with pytest.raises(JobConflict):
        decide(state, cmd(CancelJob, 3))
    with pytest.raises(NothingToRetry):
        decide(state, cmd(RetryJob, 3))
    deleted = decide(state, cmd(DeleteJob, 3))
    assert [type(e) for e in deleted] == [JobDeleted]
    state = fold([(3, deleted[0])], state)
    with pytest.raises(JobNotFound):
        decide(state, cmd(CancelJob, 4))


def test_repeated_page_event_is_a_no_op() -> None:
    state = _created()
    page = PageRecorded(event_id="e", job_id=JOB, at=5, actor="w", url="https://a.test/", ok=True)
    once = evolve(state, page)
    assert once.done == 1
    assert evolve(once, page) == once


def test_decide_is_deterministic_for_a_retried_command() -> None:
    state = _created()
    retried = cmd(CancelJob, 7)
    assert decide(state, retried) == decide(state, retried)
