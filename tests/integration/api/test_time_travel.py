"""GET /api/job/{id}?as_of=<seq> and ?at=<ms>: the job as it was then, folded from the log."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.schemas import Job
from api.users import User
from engine.domain.envelope import event_envelope
from engine.domain.events import AnyEvent, LogWritten
from engine.domain.state import JobState, evolve
from engine.service import new_id, now_ms
from projections.apply import row_of
from tests.integration.api.helpers import (
    NOVEL,
    assert_error,
    create,
    engine,
    finish,
    log_of,
    start,
)
from tests.support import Client, Service, get_job
from tests.unit.strategies import JOB_IDS, KINDS, History, run_steps

# two jobs created first, then anything (sometimes the third job too)
lives = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(JOB_IDS[:3]), st.integers(0, 11)),
    min_size=4,
    max_size=25,
).map(lambda steps: [("create", JOB_IDS[0], 0), ("create", JOB_IDS[1], 1), *steps])
# writers' clocks disagree a little: an event may carry an earlier time than the one before
skews = st.lists(st.integers(-3, 3), min_size=40, max_size=40)


def _fresh(log: list[AnyEvent], owner: str, skew: list[int]) -> list[AnyEvent]:
    """The log under new job and event ids (each example gets its own jobs), owned by `owner`,
    with event times moved by `skew`."""
    ids = {job_id: new_id() for job_id in JOB_IDS}
    out: list[AnyEvent] = []
    for i, event in enumerate(log):
        changes: dict[str, Any] = {"event_id": new_id(), "job_id": ids[event.job_id]}
        changes["at"] = event.at + skew[i % len(skew)]
        if hasattr(event, "user_id"):
            changes["user_id"] = owner
        out.append(msgspec.structs.replace(event, **changes))
    return out


def _expected(history: History) -> Any:
    """The job after `history`, evolved event by event, as GET serves it; None: not found."""
    state: JobState | None = None
    for _, event in history:
        state = evolve(state, event)
    if state is None or state.purged:
        return None
    state = msgspec.structs.replace(state, version=history[-1][0])
    return msgspec.to_builtins(Job.of(row_of(state)))


async def _at(client: Client, job_id: str, **point: int) -> Any:
    status, body = await client.call("GET", f"/api/job/{job_id}", params=point)
    if status == 404:
        return None
    assert status == 200, body
    return body


async def _check_job(svc: Service, owner: Client, history: History) -> None:
    job_id = history[0][1].job_id
    now = _expected(history)
    seqs = [seq for seq, _ in history]
    for seq in [seqs[0] - 1, *seqs]:
        expected = _expected([h for h in history if h[0] <= seq]) if now else None
        assert await _at(svc.admin, job_id, as_of=seq) == expected, seq
    for at in sorted({e.at for _, e in history} | {history[0][1].at - 1}):
        prefix: History = []
        for item in history:
            if item[1].at > at:
                break
            prefix.append(item)
        expected = _expected(prefix) if now and prefix else None
        assert await _at(svc.admin, job_id, at=at) == expected, at
    if now is not None:
        assert await get_job(svc.admin, job_id) == now  # the read model agrees with the log
        visible = not now.get("deleted", False)
        assert (await _at(owner, job_id, as_of=seqs[-1]) == now) is visible


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lives, skews)
async def test_time_travel_equals_the_fold_of_every_prefix(
    api: Service, raw: list[tuple[str, str, int]], skew: list[int]
) -> None:
    """Record a history on the real log, then ask for the job at each of its sequences and
    at each of its event times: the answer is the fold of the log up to that point."""
    owner = await api.add_user(f"u{new_id()}")
    me: User = await api.runtime.users.resolve(owner.token)
    log = _fresh(run_steps(raw), me.id, skew)
    store = engine(api).store
    by_job: dict[str, History] = {}
    for event in log:
        by_job.setdefault(event.job_id, []).append((await store.append_unchecked(event), event))
    await api.runtime.projector.wait_for(max(h[-1][0] for h in by_job.values()))
    for history in by_job.values():
        assert [(s.seq, s.event) for s in await store.history(history[0][1].job_id)] == history
        await _check_job(api, owner, history)


async def test_bad_points_are_422_naming_the_field(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    path = f"/api/job/{job['id']}"
    for params, field in (
        ({"as_of": "1", "at": "1"}, "at"),
        ({"as_of": "-1"}, "as_of"),
        ({"as_of": "abc"}, "as_of"),
        ({"as_of": ""}, "as_of"),
        ({"as_of": "1.5"}, "as_of"),
        ({"at": "-5"}, "at"),
        ({"at": "99999999999999999999"}, "at"),
        ({"as_of": "1", "include": "stats"}, "include"),
    ):
        status, error = await user.call("GET", path, params=params)
        assert_error(status, error, 422, field)


async def test_before_the_first_event_the_job_did_not_exist(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    first = (await log_of(api, job["id"]))[0]
    for params in ({"as_of": first.seq - 1}, {"as_of": 0}, {"at": first.event.at - 1}):
        status, error = await user.call("GET", f"/api/job/{job['id']}", params=params)
        assert_error(status, error, 404)
        assert "did not exist yet" in error["detail"]
    assert await _at(user, job["id"], as_of=first.seq) == job
    assert await _at(user, job["id"], at=first.event.at) == job


async def test_past_views_show_progress_and_logs_of_then(api: Service) -> None:
    user = await api.add_user("u")
    job = await create(user)
    await start(api, job["id"])
    store = engine(api).store
    line = LogWritten(**event_envelope(job["id"], "w"), message="one")
    seq = await store.append_unchecked(line)
    await finish(api, job["id"], ok=True)
    path = f"/api/job/{job['id']}"
    status, then = await user.call("GET", path, params={"as_of": seq, "include": "logs,progress"})
    assert status == 200, then
    assert then["status"] == 1 and then["is_running"] is True
    assert then["logs"] == [{"timestamp": line.at, "level": "info", "message": "one"}]
    assert then["progress"]["percentage"] == 0.0
    status, before = await user.call("GET", path, params={"as_of": seq - 1, "include": "logs"})
    assert (status, before["logs"]) == (200, [])
    assert (await get_job(user, job["id"]))["status"] == 2


async def test_only_the_owner_and_admins_travel_and_deleted_jobs_only_admins(
    api: Service,
) -> None:
    owner, other = await api.add_user("owner"), await api.add_user("other")
    job = await create(owner, NOVEL, url="https://example.com/mine")
    created_seq = (await log_of(api, job["id"]))[0].seq
    status, error = await other.call("GET", f"/api/job/{job['id']}", params={"as_of": 10**6})
    assert_error(status, error, 404)
    assert await _at(api.admin, job["id"], as_of=created_seq) == job

    assert await owner.call("DELETE", f"/api/job/{job['id']}") == (200, True)
    for client in (owner, other):
        status, error = await client.call("GET", f"/api/job/{job['id']}", params={"at": now_ms()})
        assert_error(status, error, 404)
    # admins keep the history: before the deletion as it was, after it flagged as deleted
    assert await _at(api.admin, job["id"], as_of=created_seq) == job
    last = (await log_of(api, job["id"]))[-1].seq
    after = await _at(api.admin, job["id"], as_of=last)
    assert after["deleted"] is True and after["status"] == 4
    assert await get_job(api.admin, job["id"]) == after
