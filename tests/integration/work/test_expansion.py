"""The dispatcher and an expanded job: children made once, `after` dependencies that run
whatever their sibling's outcome, the roll-up, cancel cascades and purge down the tree.

No worker runs here (the `service` fixture has none): the test is the worker, starting and
finishing jobs through the service, so every step is the test's own and nothing races it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats.js.errors
import pytest

from engine.crawl.fetcher import FetchSettings
from engine.dispatcher import Dispatcher, open_dependents
from engine.domain.batches import child_id, expansion_child_id
from engine.domain.commands import CancelJob, CreateJob, ExpandJob, FinishJob, StartJob
from engine.domain.envelope import command_envelope
from engine.domain.errors import JobConflict
from engine.domain.events import ChildSpec, JobCreated, JobExpanded
from engine.domain.model import JobStatus, JobType
from engine.domain.state import JobState
from engine.jetstream.store import JOBS_STREAM
from engine.service import JobService, new_id
from engine.worker import Worker
from tests.support import Service, wait_consumed, wait_until

URL = "https://novel.example/book"
SCRAPE = int(JobType.SCRAPE)


def _specs(first: ChildSpec | None = None) -> list[ChildSpec]:
    """A first child, and a second one that waits for it (`after=0`)."""
    first = first or ChildSpec(type=SCRAPE, params={"urls": [URL + "/1"]}, title="first")
    return [first, ChildSpec(type=SCRAPE, params={"urls": [URL + "/2"]}, title="second", after=0)]


async def _expanded(svc: Service, children: list[ChildSpec]) -> tuple[JobService, str]:
    """A FULL_NOVEL job, started, that expanded into `children`; once they all exist."""
    jobs = JobService(svc.runtime.store)
    job_id = new_id()
    await jobs.execute(
        CreateJob(**command_envelope(job_id, "u1"), user_id="u1", type=int(JobType.FULL_NOVEL),
                  priority=1, params={"url": URL, "full": True})
    )  # fmt: skip
    await jobs.execute(StartJob(**command_envelope(job_id, "w-test"), worker_id="w-test"))
    env = command_envelope(job_id, "w-test")
    await jobs.execute(ExpandJob(**env, children=children, units=7))
    for index in range(len(children)):
        await _wait_for(jobs, expansion_child_id(job_id, index), lambda s: True)
    return jobs, job_id


async def _wait_for(jobs: JobService, job_id: str, check: Any, timeout: float = 10) -> JobState:
    """The job once `check(state)` holds."""
    found: JobState | None = None

    async def holds() -> bool:
        nonlocal found
        found = await jobs.store.load(job_id)
        return found is not None and bool(check(found))

    await wait_until(holds, timeout=timeout)
    assert found is not None
    return found


async def _run(jobs: JobService, job_id: str, *, ok: bool) -> None:
    """What a worker does with a job: start it, then finish it."""
    await jobs.execute(StartJob(**command_envelope(job_id, "w-test"), worker_id="w-test"))
    error = None if ok else "boom"
    await jobs.execute(FinishJob(**command_envelope(job_id, "w-test"), ok=ok, error=error))


def _ended(state: JobState) -> bool:
    return state.is_done


async def _queued(svc: Service) -> list[str]:
    """The job ids of every work item in WORK (no worker takes them here)."""
    js = svc.runtime.nc.jetstream()
    info = await js.stream_info("WORK")
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(nats.js.errors.NotFoundError):  # taken and acked
            ids.append(((await js.get_msg("WORK", seq)).data or b"").decode())
    return ids


async def test_children_are_made_with_their_ids_parent_and_dependency(service: Service) -> None:
    jobs, parent = await _expanded(service, _specs())
    first = await jobs.store.load(expansion_child_id(parent, 0))
    second = await jobs.store.load(expansion_child_id(parent, 1))
    assert first is not None and second is not None
    assert (first.parent_job_id, first.type, first.title, first.depends_on) == (
        parent, SCRAPE, "first", None,
    )  # fmt: skip
    assert first.params == {"urls": [URL + "/1"]} and not first.after_finished
    assert (second.parent_job_id, second.depends_on, second.after_finished) == (
        parent, expansion_child_id(parent, 0), True,
    )  # fmt: skip
    await wait_consumed(service, "dispatcher")
    queued = await _queued(service)
    assert any(expansion_child_id(parent, 0) in item for item in queued)
    assert not any(
        expansion_child_id(parent, 1) in item for item in queued
    )  # waits for its sibling
    state = await jobs.store.load(parent)
    assert state is not None and state.status == JobStatus.RUNNING
    assert (state.expanded, state.total, state.units) == (2, 2, 7)


async def test_the_parent_succeeds_when_its_children_do(service: Service) -> None:
    jobs, parent = await _expanded(service, _specs())
    await _run(jobs, expansion_child_id(parent, 0), ok=True)
    await _wait_for(jobs, expansion_child_id(parent, 1), lambda s: s.status == JobStatus.PENDING)
    await _run(jobs, expansion_child_id(parent, 1), ok=True)
    state = await _wait_for(jobs, parent, _ended)
    assert (state.status, state.done, state.failed, state.error) == (JobStatus.SUCCESS, 2, 0, None)


async def test_the_after_child_runs_although_its_sibling_failed(service: Service) -> None:
    jobs, parent = await _expanded(service, _specs())
    await _run(jobs, expansion_child_id(parent, 0), ok=False)

    async def released() -> bool:  # the dispatcher may still be on it (a retried reaction)
        return any(expansion_child_id(parent, 1) in item for item in await _queued(service))

    await wait_until(released, timeout=15)
    second = await jobs.store.load(expansion_child_id(parent, 1))
    assert second is not None and second.status == JobStatus.PENDING  # released, not failed
    parent_state = await jobs.store.load(parent)
    assert parent_state is not None and not parent_state.is_done  # one child still runs
    await _run(jobs, expansion_child_id(parent, 1), ok=True)
    state = await _wait_for(jobs, parent, _ended)
    assert state.status == JobStatus.FAILED and state.error == "1 of 2 children failed"
    assert (state.done, state.failed) == (1, 1)


async def test_a_plain_dependent_still_fails_with_its_dependency(service: Service) -> None:
    jobs, parent = await _expanded(service, _specs())
    plain = new_id()
    await jobs.execute(
        CreateJob(**command_envelope(plain, "u1"), user_id="u1", type=SCRAPE, priority=1,
                  params={"urls": [URL]}, depends_on=expansion_child_id(parent, 0))
    )  # fmt: skip
    await _run(jobs, expansion_child_id(parent, 0), ok=False)
    state = await _wait_for(jobs, plain, _ended)
    assert state.status == JobStatus.FAILED and "dependency" in (state.error or "")


async def test_cancel_cascades_through_the_children_and_a_nested_batch(service: Service) -> None:
    batch = ChildSpec(type=int(JobType.NOVEL_BATCH), params={"urls": [URL + "/a", URL + "/b"]},
                      title="batch", total=2)  # fmt: skip
    jobs, parent = await _expanded(service, _specs(batch))
    first = expansion_child_id(parent, 0)
    await _wait_for(jobs, first, lambda s: s.status == JobStatus.RUNNING)  # spawned its own
    await _wait_for(jobs, child_id(first, 1), lambda s: True)
    await jobs.execute(CancelJob(**command_envelope(parent, "u1")))
    for job_id in (
        child_id(first, 0),
        child_id(first, 1),
        first,
        expansion_child_id(parent, 1),
        parent,
    ):
        state = await _wait_for(jobs, job_id, _ended)
        assert state.status == JobStatus.CANCELED, (job_id, state)


async def test_a_redelivered_expansion_creates_nothing_twice(service: Service) -> None:
    jobs, parent = await _expanded(service, _specs())
    with pytest.raises(JobConflict):
        env = command_envelope(parent, "w-other")
        await jobs.execute(ExpandJob(**env, children=_specs(), units=7))
    await wait_consumed(service, "dispatcher")
    history = await jobs.store.history(parent)
    seq, expanded = next((s.seq, s.event) for s in history if isinstance(s.event, JobExpanded))
    assert isinstance(expanded, JobExpanded)
    nc = service.runtime.nc
    last = (await nc.jetstream().stream_info(JOBS_STREAM)).state.last_seq
    again = Dispatcher(nc, jobs, await open_dependents(nc))
    await again.react(seq, expanded)
    await again.react(seq, expanded)
    assert (await nc.jetstream().stream_info(JOBS_STREAM)).state.last_seq == last
    for index in range(2):
        created = [s for s in await jobs.store.history(expansion_child_id(parent, index))
                   if isinstance(s.event, JobCreated)]  # fmt: skip
        assert len(created) == 1


async def test_purge_erases_the_whole_tree(service: Service) -> None:
    batch = ChildSpec(type=int(JobType.NOVEL_BATCH), params={"urls": [URL + "/a"]},
                      title="batch", total=1)  # fmt: skip
    jobs, parent = await _expanded(service, _specs(batch))
    first = expansion_child_id(parent, 0)
    await _wait_for(jobs, child_id(first, 0), lambda s: True)
    await _run(jobs, child_id(first, 0), ok=True)
    await _wait_for(jobs, expansion_child_id(parent, 1), lambda s: s.status == JobStatus.PENDING)
    await _run(jobs, expansion_child_id(parent, 1), ok=True)
    await _wait_for(jobs, parent, lambda s: s.status == JobStatus.SUCCESS)
    status, report = await service.admin.call("DELETE", f"/api/job/{parent}?purge=true")
    assert status == 200, report
    tree = [child_id(first, 0), first, expansion_child_id(parent, 1), parent]
    assert report["job_ids"] == tree
    for job_id in tree:
        state = await jobs.store.load(job_id)
        assert state is not None and state.purged


async def test_a_worker_given_an_expanded_jobs_item_leaves_the_job_to_its_children(
    service: Service,
) -> None:
    """The FULL_NOVEL's own work item is still queued (as after a worker died between its
    expansion and its ack): the next worker acks it and writes nothing to the job."""
    refused = "http://127.0.0.1:9/"  # the guard refuses loopback here: nothing is sent
    specs = [ChildSpec(type=SCRAPE, params={"urls": [refused]}),
             ChildSpec(type=SCRAPE, params={"urls": [refused]}, after=0)]  # fmt: skip
    jobs, parent = await _expanded(service, specs)
    await wait_consumed(service, "dispatcher")
    assert any(parent in item for item in await _queued(service))
    nc = service.runtime.nc
    worker = Worker(nc, jobs, service.runtime.results, FetchSettings(), concurrency=1, burst=True)
    await asyncio.wait_for(worker.run(), 30)
    assert not any(parent in item for item in await _queued(service))  # acked
    history = await jobs.store.history(parent)
    assert not [s for s in history if s.event.actor == worker.worker_id]
