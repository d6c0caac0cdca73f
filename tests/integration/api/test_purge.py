"""DELETE /api/job/{id}?purge=true: a job's history and bodies erased, the read model following,
also when it is rebuilt from the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats.js.errors
import pytest

from engine.domain.envelope import event_envelope
from engine.domain.events import Codec, JobPurged, PageRecorded, kind_of, to_builtins
from engine.jetstream.results import RESULTS_STREAM
from projections.projector import rebuild
from projections.queries import table_dump
from projections.schema import open_db
from tests.integration.api.helpers import (
    NOVEL,
    assert_error,
    create,
    engine,
    finish,
    log_of,
    start,
)
from tests.support import Client, Service, finished, get_job, shows_status, wait_until


async def _body(svc: Service, subject: str) -> bytes | None:
    """The newest message on a RESULTS subject, straight from JetStream."""
    try:
        msg = await svc.runtime.nc.jetstream().get_last_msg(RESULTS_STREAM, subject)
    except nats.js.errors.NotFoundError:
        return None
    data: bytes = msg.data
    return data


async def _rows(svc: Service, job_ids: list[str]) -> dict[str, list[Any]]:
    db = svc.runtime.jobs.db
    marks = ",".join("?" * len(job_ids))
    return {
        table: list(await db.execute_fetchall(f"SELECT * FROM {table} WHERE {col} IN ({marks})",
                                              job_ids))
        for table, col in (("jobs", "id"), ("job_events", "job_id"), ("results", "job_id"))
    }  # fmt: skip


async def _batch_with_results(svc: Service, owner: Client) -> tuple[str, list[str], str]:
    """A finished batch of two: one child with a stored body, one failed."""
    batch = await create(owner, NOVEL, urls=["https://a.test/", "https://b.test/"])
    await wait_until(lambda: shows_status(owner, batch["id"], 1))
    _, kids = await owner.call("GET", "/api/jobs", params={"parent_job_id": batch["id"]})
    children = sorted(k["id"] for k in kids["items"])
    assert len(children) == 2
    subject = f"results.{children[0]}.page1"
    await svc.runtime.nc.jetstream().publish(subject, b'{"markdown": "private text"}')
    await start(svc, children[0])
    page = PageRecorded(
        **event_envelope(children[0], "w"), url="https://a.test/", ok=True, status=200,
        result_key=subject,
    )  # fmt: skip
    await engine(svc).store.append_unchecked(page)
    await finish(svc, children[0], ok=True)
    return batch["id"], children, subject


async def test_purge_erases_a_batch_and_the_read_model_follows_also_rebuilt(
    api: Service, tmp_path: Path
) -> None:
    owner, other = await api.add_user("owner"), await api.add_user("other")
    keep = await create(other, NOVEL, url="https://example.com/keep")
    batch, children, subject = await _batch_with_results(api, owner)
    family = [*children, batch]

    # refused while a child has not finished, and nothing is erased
    status, error = await api.admin.call("DELETE", f"/api/job/{batch}", params={"purge": "true"})
    assert_error(status, error, 409)
    assert children[1] in error["detail"]
    await start(api, children[1])
    await finish(api, children[1], ok=False, error="boom")
    await finished(owner, batch, timeout=10)  # the dispatcher ends the batch
    before = {job_id: await log_of(api, job_id) for job_id in family}
    assert await _body(api, subject) is not None

    # owners may delete but not purge
    status, error = await owner.call("DELETE", f"/api/job/{batch}", params={"purge": "true"})
    assert_error(status, error, 403)
    assert "admin" in error["detail"]

    status, report = await api.admin.call("DELETE", f"/api/job/{batch}", params={"purge": "true"})
    assert status == 200, report
    assert report == {
        "job_ids": family,
        "events_erased": sum(len(h) for h in before.values()),
        "results_erased": 1,
    }
    admin_id = (await api.runtime.users.resolve(api.admin.token)).id
    for job_id in family:  # one tombstone each, carrying no user data
        (only,) = await log_of(api, job_id)
        assert isinstance(only.event, JobPurged) and only.seq > before[job_id][-1].seq
        assert (only.event.actor, to_builtins(only.event)) == (admin_id, {})
    assert await _body(api, subject) is None
    assert await _rows(api, family) == {"jobs": [], "job_events": [], "results": []}
    for job_id in family:
        for client in (api.admin, owner):
            for params in ({}, {"as_of": 10**9}):
                status, error = await client.call("GET", f"/api/job/{job_id}", params=params)
                assert_error(status, error, 404)
        status, error = await api.admin.call("GET", "/api/events", params={"job_id": job_id})
        assert_error(status, error, 404)
    assert await get_job(other, keep["id"]) == keep

    # a read model rebuilt from the log holds exactly what the live one holds
    live = await table_dump(api.runtime.jobs.db)
    fresh = await open_db(tmp_path / "rebuilt.sqlite3")
    try:
        await rebuild(fresh, api.runtime.nc, Codec())
        assert await table_dump(fresh) == live
    finally:
        await fresh.close()
    assert {row[0] for row in live["jobs"]} == {keep["id"]}


async def test_purging_a_deleted_job_and_purging_again(api: Service) -> None:
    owner = await api.add_user("owner")
    job = await create(owner)
    assert await owner.call("DELETE", f"/api/job/{job['id']}") == (200, True)
    assert (await get_job(api.admin, job["id"]))["deleted"] is True
    path = f"/api/job/{job['id']}"
    status, report = await api.admin.call("DELETE", path, params={"purge": "true"})
    assert (status, report["job_ids"], report["events_erased"]) == (200, [job["id"]], 3)
    # again: a new tombstone replaces the old one
    status, report = await api.admin.call("DELETE", path, params={"purge": "true"})
    assert (status, report["events_erased"]) == (200, 1)
    assert [kind_of(s.event) for s in await log_of(api, job["id"])] == ["purged"]
    status, error = await api.admin.call("DELETE", "/api/job/nope", params={"purge": "true"})
    assert_error(status, error, 404)


async def test_a_running_job_is_not_purged(api: Service) -> None:
    owner = await api.add_user("owner")
    job = await create(owner)
    await start(api, job["id"])
    status, error = await api.admin.call("DELETE", f"/api/job/{job['id']}", params={"purge": "1"})
    assert_error(status, error, 409)
    assert "cancel it" in error["detail"]
    assert [kind_of(s.event) for s in await log_of(api, job["id"])] == ["created", "started"]


@pytest.mark.parametrize("value", ["maybe", ""])
async def test_a_malformed_purge_flag_is_refused(api: Service, value: str) -> None:
    job = await create(api.admin)
    status, error = await api.admin.call("DELETE", f"/api/job/{job['id']}", params={"purge": value})
    assert 400 <= status < 500 and error["field"] == "purge", error
    assert (await get_job(api.admin, job["id"]))["status"] == 0
