"""Rebuilding the read model from any log equals applying it live, stopped and resumed anywhere."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.domain.events import AnyEvent
from projections.apply import apply_batch
from projections.queries import table_dump
from projections.schema import open_db, read_checkpoint
from projections.state_cache import StateCache
from tests.unit.strategies import run_steps, steps


async def _apply(
    path: Path, log: list[AnyEvent], cuts: list[int], restarts: set[int], cache: StateCache | None
) -> Any:
    """Apply `log` in batches split at `cuts`, closing and reopening the file at `restarts`;
    after a restart the last batch is delivered again, as after a crash before the ack.
    With `cache`, every batch shares it (as a projector's batches do)."""
    seqs = list(enumerate(log, start=1))
    bounds = [0, *sorted(set(cuts)), len(seqs)]
    db = await open_db(path)
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if hi <= lo:
            continue
        if i in restarts:
            await db.close()
            db = await open_db(path)
            redelivered = [s for s in seqs[:lo] if s[0] > await read_checkpoint(db) - 3]
            if redelivered:
                await apply_batch(db, redelivered, cache)
        await apply_batch(db, seqs[lo:hi], cache)
    dump = await table_dump(db)
    await db.close()
    return dump


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps,
    st.lists(st.integers(0, 60), max_size=8),
    st.sets(st.integers(0, 8), max_size=4),
    st.integers(1, 6),
)
def test_rebuild_equals_live(
    raw: list[tuple[str, str, int]], cuts: list[int], restarts: set[int], remembered: int
) -> None:
    # live: one projector's memory of states (small, so states are forgotten too) across
    # batches and reopenings; rebuilt: nothing remembered
    log = run_steps(raw)
    if not log:
        return
    cuts = [c for c in cuts if 0 < c < len(log)]
    with tempfile.TemporaryDirectory() as tmp:
        cache = StateCache(size=remembered)
        live = asyncio.run(_apply(Path(tmp) / "live.db", log, cuts, restarts, cache))
        rebuilt = asyncio.run(_apply(Path(tmp) / "rebuilt.db", log, [], set(), None))
    assert live == rebuilt
    assert live["checkpoint"][0][1] == len(log)
