"""What the dispatcher reads when a job ends: only what that end can change."""

from __future__ import annotations

from engine.dispatcher import Dispatcher, open_dependents
from engine.domain.events import Codec
from engine.jetstream.store import EventStore, Stored
from engine.service import JobService
from tests.integration.api.helpers import SCRAPE, create, finish, log_of, start
from tests.support import Service


async def test_the_end_of_a_job_nothing_waits_on_reads_only_its_created_event(
    service: Service,
) -> None:
    job = await create(service.admin, SCRAPE, urls=["http://127.0.0.1:9/never"])
    await start(service, job["id"])
    await finish(service, job["id"], ok=True)
    [*_, ended] = await log_of(service, job["id"])
    nc = service.runtime.nc
    store = EventStore(nc, Codec())
    histories: list[str] = []
    history = store.history

    async def counted(job_id: str, from_seq: int = 1) -> list[Stored]:
        histories.append(job_id)
        return await history(job_id, from_seq)

    store.history = counted  # type: ignore[method-assign]
    dispatcher = Dispatcher(nc, JobService(store), await open_dependents(nc))
    await dispatcher.react(ended.seq, ended.event)
    assert histories == []  # no parent, no children, no dependents: nothing to fold
