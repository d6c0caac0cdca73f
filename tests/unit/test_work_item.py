"""Work items: old ones keep decoding, older workers read new ones, and a fresh item's
carried creation stands in for reading the job back only where that is safe."""

from __future__ import annotations

import msgspec

from engine.domain.commands import CreateJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, new_id
from engine.domain.events import JobCreated
from engine.domain.model import JobStatus, JobType
from engine.held import as_created
from engine.jetstream.work import WorkItem, work_message


class ItemV1(msgspec.Struct, kw_only=True):
    """A work item as workers before `created` decode it."""

    job_id: str
    trigger: int


def created(job_type: int = JobType.SCRAPE) -> JobCreated:
    job_id = new_id()
    cmd = CreateJob(**command_envelope(job_id, "u"), user_id="u", type=job_type, priority=1)
    [event] = decide(None, cmd)
    assert isinstance(event, JobCreated)
    return event


def test_an_item_written_before_created_decodes_without_it() -> None:
    item = msgspec.json.decode(
        b'{"job_id":"01JD0000000000000000000001","trigger":7}', type=WorkItem
    )
    assert (item.job_id, item.trigger, item.created) == ("01JD0000000000000000000001", 7, None)


def test_an_item_without_created_is_written_as_before() -> None:
    _, data, headers = work_message("01JD0000000000000000000001", 1, 7)
    assert msgspec.json.decode(data) == {"job_id": "01JD0000000000000000000001", "trigger": 7}
    assert headers == {"Nats-Msg-Id": "01JD0000000000000000000001.7"}


def test_an_item_carrying_created_round_trips_and_older_workers_read_it() -> None:
    event = created()
    _, data, _ = work_message(event.job_id, 1, 12, event)
    assert msgspec.json.decode(data, type=WorkItem).created == event
    old = msgspec.json.decode(data, type=ItemV1)
    assert (old.job_id, old.trigger) == (event.job_id, 12)


def test_a_fresh_scrape_item_is_the_pending_job_at_its_trigger() -> None:
    event = created()
    state = as_created(WorkItem(job_id=event.job_id, trigger=12, created=event), 1)
    assert state is not None
    assert (state.id, state.status, state.version, state.attempts) == (
        event.job_id, JobStatus.PENDING, 12, 0,
    )  # fmt: skip


def test_the_creation_is_not_used_on_redelivery_for_other_types_or_another_job() -> None:
    event = created()
    assert as_created(WorkItem(job_id=event.job_id, trigger=12, created=event), 2) is None
    assert as_created(WorkItem(job_id=new_id(), trigger=12, created=event), 1) is None
    assert as_created(WorkItem(job_id=event.job_id, trigger=12), 1) is None
    crawl = created(JobType.CRAWL)
    assert as_created(WorkItem(job_id=crawl.job_id, trigger=3, created=crawl), 1) is None
