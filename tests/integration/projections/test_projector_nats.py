"""The projector against a real JetStream: stop, resume, and rebuild give the same tables."""

from __future__ import annotations

from pathlib import Path

from engine.domain.events import Codec
from engine.jetstream.store import EventStore, wait_for_jetstream
from projections.projector import Projector, rebuild
from projections.queries import table_dump
from projections.schema import open_db
from tests.unit.strategies import JOB_IDS, run_steps

LIFE = [("create", 1), ("start", 0), ("page", 1), ("page", 2), ("page", 3), ("cancel", 0)]
LIFE += [("finish", 0), ("retry", 0), ("delete", 0)]
STEPS = [(kind, job, arg) for job in JOB_IDS[:2] for kind, arg in LIFE]


async def test_stopped_and_resumed_projector_equals_rebuild(tmp_path: Path, nats_url: str) -> None:
    nc = await wait_for_jetstream(nats_url)
    codec = Codec()
    store = EventStore(nc, codec)
    await store.ensure()
    log = run_steps(STEPS)
    half = len(log) // 2
    seqs = [await store.append_unchecked(e) for e in log[:half]]

    db = await open_db(tmp_path / "live.db")
    projector = Projector(db, nc, codec)
    await projector.start()
    await projector.wait_for(seqs[-1])
    await projector.stop()
    seqs += [await store.append_unchecked(e) for e in log[half:]]
    projector = Projector(db, nc, codec)
    await projector.start()
    await projector.wait_for(seqs[-1])
    await projector.stop()

    fresh = await open_db(tmp_path / "rebuilt.db")
    assert await rebuild(fresh, nc, codec) == seqs[-1]
    assert await table_dump(db) == await table_dump(fresh)
    jobs = (await table_dump(db))["jobs"]
    assert len(jobs) == 2
    await db.close()
    await fresh.close()
    await nc.close()


async def test_wait_for_times_out_clearly_on_a_sequence_never_written(
    tmp_path: Path, nats_url: str
) -> None:
    import pytest

    from projections.errors import NotReady

    nc = await wait_for_jetstream(nats_url)
    await EventStore(nc, Codec()).ensure()
    db = await open_db(tmp_path / "p.db")
    projector = Projector(db, nc, Codec())
    await projector.start()
    with pytest.raises(NotReady):
        await projector.wait_for(10, timeout=0.2)
    await projector.stop()
    await db.close()
    await nc.close()
