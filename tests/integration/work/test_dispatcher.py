"""The dispatcher outlives whatever lands on its subjects: garbage, strays, reactions that fail."""

from __future__ import annotations

from engine.domain.envelope import event_envelope
from engine.domain.events import Codec, JobCreated, LogWritten
from engine.domain.model import JobType
from engine.service import new_id
from tests.integration.work.helpers import results
from tests.sites.testsite import SiteHandle
from tests.support import Service, finished, wait_consumed


async def test_garbage_on_a_created_subject_does_not_stop_the_dispatcher(
    working: Service, site: SiteHandle
) -> None:
    js = working.runtime.nc.jetstream()
    codec = Codec()
    stray = LogWritten(**event_envelope(new_id(), "x"), message="?")
    broken_batch = JobCreated(
        **event_envelope(new_id(), "x"), user_id="x", type=int(JobType.NOVEL_BATCH),
        priority=1, params={"urls": 5},
    )  # fmt: skip
    for subject, data in (
        (f"jobs.{new_id()}.created", b"\xff\x00 not an event"),  # undecodable
        (f"jobs.{new_id()}.created", b'{"kind": "no_such_kind", "job_id": "x"}'),  # unknown tag
        (f"jobs.{stray.job_id}.created", codec.encode(stray)),  # an event of another kind
        (f"jobs.{broken_batch.job_id}.created", codec.encode(broken_batch)),  # reaction raises
    ):
        await js.publish(subject, data)

    url = site.url("/page/1")
    status, job = await working.admin.call("POST", "/api/job/create/scrape", json={"urls": [url]})
    assert status == 201, job
    job = await finished(working.admin, job["id"])
    assert job["status"] == 2, job
    assert [r["url"] for r in await results(working.admin, job["id"])] == [url]
    await wait_consumed(working, "dispatcher")
