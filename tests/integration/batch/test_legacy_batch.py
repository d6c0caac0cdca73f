"""A SCRAPE_BATCH from before batch scrapes ran as one job, with a SCRAPE child per URL, as a
log may still hold it: readable, its children's ends roll up into it, retry and purge reach
them."""

from __future__ import annotations

from engine.dispatcher import DISPATCHER
from engine.domain.batches import child_ids
from engine.domain.commands import CreateJob, FinishJob, StartJob
from engine.domain.envelope import command_envelope
from engine.domain.model import JobStatus, JobType
from engine.service import JobService, new_id
from tests.integration.api.helpers import engine
from tests.support import Service, finished, wait_until

URLS = [f"https://example.com/{n}" for n in range(3)]


async def _old_batch(service: Service) -> tuple[JobService, str, list[str]]:
    """The events the dispatcher wrote for a SCRAPE_BATCH before: the batch, started by the
    dispatcher, and its children under `child_id`."""
    jobs = engine(service)
    user = await service.runtime.users.resolve(service.admin.token or "")
    batch = new_id()
    await jobs.execute(CreateJob(
        **command_envelope(batch, user.id), user_id=user.id, type=int(JobType.SCRAPE_BATCH),
        priority=1, params={"urls": URLS, "formats": ["markdown"]}, title="3 URLs", total=3,
    ))  # fmt: skip
    await jobs.execute(StartJob(**command_envelope(batch, DISPATCHER), worker_id=DISPATCHER))
    children = child_ids(batch, len(URLS))
    for cid, url in zip(children, URLS, strict=True):
        await jobs.execute(CreateJob(
            **command_envelope(cid, DISPATCHER), user_id=user.id, type=int(JobType.SCRAPE),
            priority=1, params={"urls": [url], "formats": ["markdown"]}, title=url,
            parent_job_id=batch,
        ))  # fmt: skip
    return jobs, batch, children


async def _run(jobs: JobService, job_id: str, *, ok: bool) -> None:
    await jobs.execute(StartJob(**command_envelope(job_id, "w-test"), worker_id="w-test"))
    await jobs.execute(FinishJob(**command_envelope(job_id, "w-test"), ok=ok, error=None))


async def test_an_old_scrape_batch_still_rolls_up_retries_and_purges_its_children(
    service: Service,
) -> None:
    jobs, batch, children = await _old_batch(service)
    for cid, ok in zip(children, (True, True, False), strict=True):
        await _run(jobs, cid, ok=ok)
    job = await finished(service.admin, batch)
    assert (job["type"], job["status"], job["error"]) == (51, 3, "1 of 3 children failed"), job
    assert (job["done"], job["failed"], job["total"]) == (2, 1, 3), job
    _, listed = await service.admin.call("GET", "/api/jobs", params={"parent_job_id": batch})
    assert sorted(c["id"] for c in listed["items"]) == children

    status, again = await service.admin.call("POST", f"/api/job/{batch}/retry")
    assert status == 200, again

    async def retried() -> bool:
        state = await jobs.store.load(children[2])
        return state is not None and state.status == JobStatus.PENDING

    await wait_until(retried)
    await _run(jobs, children[2], ok=True)
    job = await finished(service.admin, batch)
    assert (job["status"], job["done"], job["failed"]) == (2, 3, 0), job

    status, report = await service.admin.call("DELETE", f"/api/job/{batch}?purge=true")
    assert status == 200, report
    assert sorted(report["job_ids"]) == sorted([*children, batch])
