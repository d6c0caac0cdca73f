"""EventStore.load brought up to date from a known state equals a load of the whole history."""

from __future__ import annotations

from engine.domain.events import Codec
from engine.domain.state import fold
from engine.jetstream.store import EventStore, wait_for_jetstream
from tests.unit.strategies import JOB_IDS, run_steps

LIFE = [("create", 1), ("start", 0), ("page", 1), ("page", 0), ("page", 2), ("finish", 1)]
LIFE += [("retry", 0), ("start", 0), ("page", 0), ("page", 4), ("cancel", 0), ("finish", 0)]
# Another job's events between some of the job's own: sequences with gaps and without.
STEPS = [(kind, job, arg) for i, (kind, arg) in enumerate(LIFE) for job in JOB_IDS[: 2 - i % 2]]


async def test_load_from_any_known_prefix_equals_a_full_load(nats_url: str) -> None:
    nc = await wait_for_jetstream(nats_url)
    store = EventStore(nc, Codec())
    await store.ensure()
    for event in run_steps(STEPS):
        await store.append_unchecked(event)
    job = JOB_IDS[0]
    history = [(s.seq, s.event) for s in await store.history(job)]
    full = await store.load(job)
    assert full is not None and full.version == history[-1][0] and full.attempts == 2
    for cut in range(1, len(history) + 1):
        assert await store.load(job, fold(history[:cut])) == full

    # A purge erases what a known state was folded from; the tombstone still reaches it.
    tombstone = await store.append_unchecked(run_steps([*STEPS, ("purge", job, 0)])[-1])
    assert await store.purge(job, before=tombstone) == len(history)
    purged = await store.load(job)
    assert purged is not None and purged.purged and purged.version == tombstone
    assert await store.load(job, full) == purged
    await nc.close()
