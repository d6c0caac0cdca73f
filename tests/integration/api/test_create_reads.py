"""A create answers once its event is in the log, without waiting for the read model; the
creator's reads (and their next create's active-job count) wait for the read model to show
it: read-your-writes. Real NATS and SQLite; the projector applies once a test lets it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client as NATS

from api.jobs import JobsApi, NewJob, open_idempotency
from api.limits import Limiter, LimitExceeded, Limits, TierLimits
from api.schemas import AppendedRow
from api.users import User
from engine.domain.errors import InvalidCommand
from engine.domain.events import AnyEvent, Codec
from engine.domain.model import JobType
from engine.jetstream.group_commit import GroupCommit
from engine.jetstream.store import EventStore
from engine.service import JobService
from projections import queries
from projections.errors import NotReady
from projections.projector import Projector
from projections.queries import JobFilter
from projections.schema import open_db
from tests.support import wait_until

ALICE = User(id="01ALICE0000000000000000000", name="alice")
BOB = User(id="01BOB000000000000000000000", name="bob")
ADMIN = User(id="01ADM1N0000000000000000000", name="admin", is_admin=True)
NOBODY_S_JOB = "01M00000000000000000000000"
NEW = NewJob(type=JobType.SCRAPE, params={"urls": ["https://a.test/"]}, title="https://a.test/")


class HeldProjector(Projector):
    """The projector, applying each batch only while `open` is set."""

    open = asyncio.Event()

    async def _apply(self, batch: list[tuple[int, AnyEvent]]) -> int:
        await self.open.wait()
        return await super()._apply(batch)


@pytest.fixture
async def jobs(tmp_path: Path, nc: NATS) -> AsyncIterator[JobsApi]:
    store = EventStore(nc, Codec())
    await store.ensure()
    write_db = await open_db(tmp_path / "r.db")
    projector = HeldProjector(write_db, nc, store.codec)
    projector.open = asyncio.Event()
    await projector.start()
    service = JobService(store, creates=GroupCommit(nc, store).create)
    limits = Limits(max_active_jobs=TierLimits(basic=2, premium=2, vip=2))
    kv = await open_idempotency(nc.jetstream())
    read_db = await open_db(tmp_path / "r.db")
    yield JobsApi(service, projector, read_db, kv, Limiter(limits))
    projector.open.set()
    await projector.stop()
    await read_db.close()
    await write_db.close()


def held(jobs: JobsApi) -> HeldProjector:
    assert isinstance(jobs.projector, HeldProjector)
    return jobs.projector


async def test_a_create_answers_before_the_read_model_and_its_reads_wait(jobs: JobsApi) -> None:
    row = await jobs.create(ALICE, NEW)  # answered with the read model held
    assert not isinstance(row, AppendedRow) and row.job_title == NEW.title
    assert await queries.get_job(jobs.db, row.id, None) is None
    read = asyncio.create_task(jobs.get(ALICE, row.id))
    listed = asyncio.create_task(jobs.list_jobs(ALICE, JobFilter(viewer=None), 0, 10))
    await wait_until(lambda: held(jobs).waiting == 2)  # both wait for the read model
    assert await jobs.list_jobs(BOB, JobFilter(viewer=None), 0, 10) == (0, [])  # not bob
    held(jobs).open.set()
    assert await read == row  # the create's answer is the job as the read model stores it
    assert await listed == (1, [row])


async def test_a_job_named_by_id_is_found_whoever_created_it(jobs: JobsApi) -> None:
    """Another reader (an admin) asking for a job the read model does not show yet waits
    for it to show this node's last create."""
    row = await jobs.create(ALICE, NEW)
    read = asyncio.create_task(jobs.get(ADMIN, row.id))
    await wait_until(lambda: held(jobs).waiting == 1)
    held(jobs).open.set()
    assert await read == row


async def test_the_next_create_counts_the_ones_before(jobs: JobsApi) -> None:
    """The active-jobs limit (2 here) counts a create the read model does not show yet."""
    await jobs.create(ALICE, NEW)
    second = asyncio.create_task(jobs.create(ALICE, NEW))
    await wait_until(lambda: held(jobs).waiting == 1)  # its count waits for the first
    held(jobs).open.set()
    await second
    with pytest.raises(LimitExceeded):
        await jobs.create(ALICE, NEW)


async def test_a_stopped_read_model_makes_the_create_say_so(jobs: JobsApi) -> None:
    await jobs.projector.stop()
    row = await jobs.create(ALICE, NEW)
    assert isinstance(row, AppendedRow)  # reads will not show it: the answer says so


async def test_a_job_named_before_the_read_model_shows_it_is_a_503_not_a_422(
    jobs: JobsApi,
) -> None:
    """`depends_on` naming the creator's job that the read model, held past the wait, does
    not show yet: the read model cannot tell, so try again (503), not "not found" (422)."""
    first = await jobs.create(ALICE, NEW)
    jobs.read_wait_s = 0.05
    with pytest.raises(NotReady, match="depends_on"):
        await jobs.create(ALICE, msgspec.structs.replace(NEW, depends_on=first.id))
    held(jobs).open.set()
    jobs.read_wait_s = 5.0
    assert await jobs.get(ALICE, first.id) == first  # the read model shows it now
    missing = msgspec.structs.replace(NEW, depends_on=NOBODY_S_JOB)
    with pytest.raises(InvalidCommand, match=f"depends_on: job {NOBODY_S_JOB} not found"):
        await jobs.create(ALICE, missing)
    later = await jobs.create(ALICE, msgspec.structs.replace(NEW, depends_on=first.id))
    assert later.depends_on == first.id


class ShownDuringTheRead:
    """The read connection, with the read model shown (the projector let go, its checkpoint
    reached) after a query ran and before its answer returns: the order in which a
    projector's commit can overtake a read that started before it."""

    def __init__(self, db: object, projector: HeldProjector, seq: int) -> None:
        self._db, self._projector, self._seq = db, projector, seq

    async def execute_fetchall(self, sql: str, params: object) -> object:
        rows = await self._db.execute_fetchall(sql, params)  # type: ignore[attr-defined]
        self._projector.open.set()
        await self._projector.wait_for(self._seq)
        return rows

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


async def test_a_job_the_read_model_shows_while_it_is_read_is_found(jobs: JobsApi) -> None:
    """A read that found nothing, while the projector applied the job meanwhile, is asked
    again: the job is found, not refused as missing (422)."""
    first = await jobs.create(ALICE, NEW)
    seq = (await jobs.service.store.history(first.id))[-1].seq
    jobs.db = ShownDuringTheRead(jobs.db, held(jobs), seq)  # type: ignore[assignment]
    later = await jobs.create(ALICE, msgspec.structs.replace(NEW, depends_on=first.id))
    assert later.depends_on == first.id
