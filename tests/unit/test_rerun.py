"""Re-running a child that did not fail: `RetryJob(rerun=True)` queues a finished job
whatever its outcome, and a parent stops counting a child recorded as running again."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from engine.domain.commands import CreateJob, FinishJob, RecordChild, RetryJob, StartJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope
from engine.domain.errors import NothingToRetry
from engine.domain.events import RetryRequested
from engine.domain.model import JobStatus, JobType
from engine.domain.state import JobState, evolve

JOB = str(ULID.from_int(9 << 80))
ENDS = [JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELED]


def _apply(state: JobState | None, *commands: object) -> JobState:
    for command in commands:
        for event in decide(state, command):  # type: ignore[arg-type]
            state = evolve(state, event)
    assert state is not None
    return state


def _succeeded() -> JobState:
    create = CreateJob(**command_envelope(JOB, "u"), user_id="u", type=int(JobType.ARTIFACT),
                       priority=1)  # fmt: skip
    start = StartJob(**command_envelope(JOB, "w"), worker_id="w")
    return _apply(None, create, start, FinishJob(**command_envelope(JOB, "w"), ok=True))


def test_a_job_that_succeeded_is_retried_only_to_rerun() -> None:
    done = _succeeded()
    with pytest.raises(NothingToRetry):
        decide(done, RetryJob(**command_envelope(JOB, "d")))
    (event,) = decide(done, RetryJob(**command_envelope(JOB, "d"), rerun=True))
    assert isinstance(event, RetryRequested)
    again = evolve(done, event)
    assert (again.status, again.finished_at, again.attempts) == (JobStatus.PENDING, None, 1)


def _parent_with(children: dict[str, int]) -> JobState:
    parent = JobState(id=JOB, user_id="u", type=int(JobType.FULL_NOVEL), priority=1,
                      status=JobStatus.RUNNING, expanded=len(children) + 1)  # fmt: skip
    for child, status in children.items():
        parent = _apply(parent, RecordChild(**command_envelope(JOB, "d"), child_id=child,
                                            status=status))  # fmt: skip
    return parent


@given(st.dictionaries(st.sampled_from("abcd"), st.sampled_from(ENDS), min_size=1))
def test_a_child_running_again_is_no_longer_counted(children: dict[str, int]) -> None:
    parent = _parent_with(children)
    child = sorted(children)[0]
    again = _apply(parent, RecordChild(**command_envelope(JOB, "d"), child_id=child,
                                       status=JobStatus.PENDING))  # fmt: skip
    rest = {k: v for k, v in children.items() if k != child}
    assert again.children == rest
    assert again.done == sum(1 for v in rest.values() if v == JobStatus.SUCCESS)
    assert again.failed == len(rest) - again.done
    # said again, or of a child never counted: nothing happens
    repeat = RecordChild(**command_envelope(JOB, "d"), child_id=child, status=JobStatus.PENDING)
    assert decide(again, repeat) == []
