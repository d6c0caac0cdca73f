"""ExpandJob: a running job fans out once; from then on it counts, and ends, like a batch."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from engine.domain.batches import (
    child_count,
    child_id,
    expansion_child_id,
    is_parent,
    planned_units,
    spawned_by,
)
from engine.domain.commands import (
    AnyCommand,
    CancelJob,
    CreateJob,
    ExpandJob,
    FailJob,
    FinishJob,
    RecordChild,
    StartJob,
)
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, event_envelope
from engine.domain.errors import InvalidCommand, JobConflict, JobNotFound, Refusal
from engine.domain.events import AnyEvent, ChildSpec, JobCreated, JobExpanded, ProgressReported
from engine.domain.model import JobStatus, JobType
from engine.domain.state import JobState, evolve, fold

JOB = str(ULID.from_int(7 << 80))
CHILDREN = [
    ChildSpec(type=int(JobType.VOLUME_BATCH), params={"volumes": []}, title="volumes", total=3),
    ChildSpec(type=int(JobType.ARTIFACT), params={"formats": ["epub"]}, title="epub", after=0),
]


def _cid(n: int) -> str:
    return str(ULID.from_int((n + 1) << 20))


def _run(commands: list[AnyCommand]) -> tuple[JobState | None, list[AnyEvent]]:
    """Decide each command on the state so far; refusals change nothing."""
    state: JobState | None = None
    log: list[AnyEvent] = []
    for command in commands:
        try:
            events = decide(state, command)
        except Refusal:
            continue
        for event in events:
            state = evolve(state, event)
            log.append(event)
    return state, log


def _create(*, depends_on: str | None = None, after_finished: bool = False) -> CreateJob:
    return CreateJob(
        **command_envelope(JOB, "u1", command_id=_cid(0), at=1_000), user_id="u1",
        type=int(JobType.FULL_NOVEL), priority=1, depends_on=depends_on,
        after_finished=after_finished,
    )  # fmt: skip


def _start(n: int) -> StartJob:
    return StartJob(**command_envelope(JOB, "w", command_id=_cid(n), at=1_000 + n), worker_id="w")


def _expand(n: int, children: list[ChildSpec] = CHILDREN, units: int = 261) -> ExpandJob:
    env = command_envelope(JOB, "w", command_id=_cid(n), at=1_000 + n)
    return ExpandJob(**env, children=children, units=units)


def _running() -> JobState:
    state, _ = _run([_create(), _start(1)])
    assert state is not None and state.status == JobStatus.RUNNING
    return state


def test_a_running_job_expands_once_and_counts_its_children_from_then_on() -> None:
    state, log = _run([_create(), _start(1), _expand(2)])
    assert state is not None and isinstance(log[-1], JobExpanded)
    assert (state.expanded, state.units, state.total, state.done, state.failed) == (2, 261, 2, 0, 0)
    assert state.status == JobStatus.RUNNING
    with pytest.raises(JobConflict, match="already expanded"):
        decide(state, _expand(3))


@pytest.mark.parametrize(
    "before",
    [
        [_create()],  # pending
        [_create(), _start(1), CancelJob(**command_envelope(JOB, "u1", command_id=_cid(5)))],
        [
            _create(),
            _start(1),
            FinishJob(**command_envelope(JOB, "w", command_id=_cid(5)), ok=True),
        ],
    ],
    ids=["pending", "cancel-requested", "finished"],
)
def test_only_a_running_job_without_a_cancel_request_expands(before: list[AnyCommand]) -> None:
    state, _ = _run(before)
    with pytest.raises(JobConflict):
        decide(state, _expand(9))


def test_an_unknown_job_does_not_expand() -> None:
    with pytest.raises(JobNotFound):
        decide(None, _expand(9))


@pytest.mark.parametrize(
    ("children", "field"),
    [
        ([], "children"),
        ([ChildSpec(type=40, after=0)], "children[0].after"),  # waits for itself
        ([ChildSpec(type=21), ChildSpec(type=40, after=2)], "children[1].after"),  # a later one
        ([ChildSpec(type=21), ChildSpec(type=40, after=-1)], "children[1].after"),
    ],
)
def test_an_expansion_names_the_children_it_cannot_plan(
    children: list[ChildSpec], field: str
) -> None:
    with pytest.raises(InvalidCommand) as caught:
        decide(_running(), _expand(9, children))
    assert caught.value.field == field


def _child(n: int, index: int, status: JobStatus) -> RecordChild:
    env = command_envelope(JOB, "dispatcher", command_id=_cid(n), at=1_000 + n)
    return RecordChild(**env, child_id=expansion_child_id(JOB, index), status=int(status))


def test_a_redelivered_worker_cannot_restart_an_expanded_job() -> None:
    state, _ = _run([_create(), _start(1), _expand(2)])
    with pytest.raises(JobConflict, match="children"):
        decide(state, _start(3))


def test_an_expanded_job_ends_only_through_its_children() -> None:
    state, _ = _run([_create(), _start(1), _expand(2)])
    finish = FinishJob(**command_envelope(JOB, "w", command_id=_cid(3)), ok=True)
    fail = FailJob(**command_envelope(JOB, "w", command_id=_cid(4)), error="gave up")
    for refused in (finish, fail):
        with pytest.raises(JobConflict, match="children"):
            decide(state, refused)
    state, _ = _run([_create(), _start(1), _expand(2), _child(3, 0, JobStatus.FAILED)])
    with pytest.raises(JobConflict):
        decide(state, finish)
    state, _ = _run([_create(), _start(1), _expand(2), _child(3, 0, JobStatus.FAILED),
                     _child(4, 1, JobStatus.SUCCESS)])  # fmt: skip
    assert state is not None and (state.done, state.failed, state.total) == (1, 1, 2)
    assert [type(e).__name__ for e in decide(state, finish)] == ["JobSucceeded"]
    with pytest.raises(JobConflict):
        decide(state, fail)  # still: only the dispatcher's finish ends it


def test_progress_reported_after_the_expansion_leaves_the_counters_to_the_children() -> None:
    state, _ = _run([_create(), _start(1), _expand(2)])
    late = ProgressReported(**event_envelope(JOB, "w", at=2_000), done=3, failed=1, total=3)
    assert evolve(state, late).total == 2
    assert evolve(state, late).updated_at == 2_000


def test_after_finished_is_created_with_the_job() -> None:
    state, log = _run([_create(after_finished=True, depends_on=child_id(JOB, 5))])
    assert state is not None and state.after_finished
    assert isinstance(log[0], JobCreated) and log[0].after_finished
    state, _ = _run([_create()])
    assert state is not None and not state.after_finished


def test_the_children_of_an_expanded_job_are_its_own() -> None:
    running = _running()
    assert not is_parent(running) and child_count(running) == 0
    assert not spawned_by(running, expansion_child_id(JOB, 0))
    state, _ = _run([_create(), _start(1), _expand(2)])
    assert state is not None and is_parent(state) and child_count(state) == 2
    ids = [expansion_child_id(JOB, i) for i in range(3)]
    assert [spawned_by(state, i) for i in ids] == [True, True, False]
    assert not spawned_by(state, child_id(JOB, 0))  # a batch's first child's id is not theirs


def test_expansion_ids_stay_clear_of_batch_ids_above_and_below() -> None:
    """A batch's children are parent + 1, + 2...; an expansion's must not land there, nor
    may the children of an expansion's batch child land on its siblings."""
    ids = [expansion_child_id(JOB, i) for i in range(4)]
    assert len(set(ids)) == 4 and ids == [expansion_child_id(JOB, i) for i in range(4)]
    near = {child_id(JOB, i) for i in range(1000)} | {JOB}
    below_first = {child_id(ids[0], i) for i in range(1000)}
    assert not near & set(ids) and not below_first & set(ids)
    assert all(i[:10] == JOB[:10] for i in ids)  # the parent's time


def test_a_volume_child_starts_with_its_chapters_as_total() -> None:
    volume = {"volume_id": "x-v1", "chapters": [{"id": str(i)} for i in range(7)]}
    assert planned_units(volume) == 7
    assert planned_units({"chapters": []}) == 1
    assert planned_units("https://example.com/novel") == 1


# Steps a worker, a user and the dispatcher take on one FULL_NOVEL, in any order and
# repeated: a redelivered or resumed worker starts it again and asks to expand again.
STEP = st.sampled_from(["start", "expand", "cancel", "child0", "child1", "fail0", "finish",
                        "progress"])  # fmt: skip


def _steps(kind: str, n: int, state: JobState | None) -> list[AnyEvent]:
    """The events step `kind` (the `n`-th) makes; a refused command makes none."""
    env = command_envelope(JOB, "x", command_id=_cid(n), at=1_000 + n)
    command: AnyCommand
    match kind:
        case "start":
            command = StartJob(**env, worker_id="w")
        case "expand":
            command = ExpandJob(**env, children=CHILDREN, units=11)
        case "cancel":
            command = CancelJob(**env)
        case "child0" | "child1":
            command = _child(n, int(kind[-1]), JobStatus.SUCCESS)
        case "fail0":
            command = _child(n, 0, JobStatus.FAILED)
        case "finish":
            command = FinishJob(**env, ok=True)
        case _:
            return [ProgressReported(**event_envelope(JOB, "w", at=1_000 + n), done=n, total=n)]
    try:
        return decide(state, command)
    except Refusal:
        return []


@settings(max_examples=500)
@given(st.lists(STEP, max_size=30))
def test_any_order_of_redeliveries_expands_at_most_once(kinds: list[str]) -> None:
    state, log = _run([_create(), _start(1)])
    for n, kind in enumerate(kinds, start=2):
        for event in _steps(kind, n, state):
            before = state
            state = evolve(state, event)
            log.append(event)
            assert state is not None and before is not None
            if before.expanded:  # once expanded, it stays so, and ends only after its children
                assert state.expanded == 2 and state.total == 2
                assert not state.is_done or len(state.children) == 2
    assert sum(isinstance(e, JobExpanded) for e in log) <= 1
    assert fold(enumerate(log, start=1)) == _with_version(state, len(log))


def _with_version(state: JobState | None, version: int) -> JobState | None:
    return None if state is None else msgspec.structs.replace(state, version=version)
