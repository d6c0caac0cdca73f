"""The ids `decide` gives a command's events: the same on every decision, shared with nothing.

python-ulid mints the ULIDs of one millisecond by adding 1 to the last one, so an event id
made as "command id + n" was the very id the process minted next (another command's, or a
worker's event's): two events in the log with one id.
"""

from __future__ import annotations

from ulid import ULID

from engine.domain.commands import CreateJob, DeleteJob, StartJob
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, new_id
from engine.domain.model import JobType
from engine.domain.state import JobState, fold


def _running(job_id: str) -> JobState:
    create = CreateJob(
        **command_envelope(job_id, "u"), user_id="u", type=JobType.SCRAPE, priority=1
    )
    created = decide(None, create)
    state = fold([(1, created[0])])
    started = decide(state, StartJob(**command_envelope(job_id, "w"), worker_id="w"))
    running = fold([(2, started[0])], state)
    assert running is not None
    return running


def _ids_of_one_millisecond(count: int) -> list[str]:
    """`count` ids minted one after another by `new_id`, all in the same millisecond."""
    while True:
        ids = [new_id() for _ in range(count)]
        if len({ULID.from_str(i).milliseconds for i in ids}) == 1:
            return ids


def test_a_commands_events_share_no_id_with_the_ids_minted_after_it() -> None:
    job = _running(new_id())
    command_id, *after = _ids_of_one_millisecond(4)
    delete = DeleteJob(**command_envelope(job.id, "u", command_id=command_id))
    events = decide(job, delete)  # a running job: cancel requested, then deleted
    ids = [e.event_id for e in events]
    assert len(ids) == 2 and ids[0] == command_id
    assert not set(ids) & set(after)


def test_a_commands_event_ids_are_the_same_on_every_decision_and_distinct() -> None:
    job = _running(new_id())
    delete = DeleteJob(**command_envelope(job.id, "u"))
    ids = [e.event_id for e in decide(job, delete)]
    assert ids == [e.event_id for e in decide(job, delete)]  # a retried command dedupes
    assert len(set(ids)) == len(ids)
    when = {ULID.from_str(i).milliseconds for i in ids}
    assert when == {ULID.from_str(delete.command_id).milliseconds}  # they sort by time
