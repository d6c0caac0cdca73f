"""Rules the terminal client keeps on its own, without importing the server: where the admin
token is saved, and how many children a batch's feed will show (learned from its snapshot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.settings import Settings
from cli.http import admin_token_path
from cli.live_state import Bar, WatchState, children_settled, on_children_frame
from engine.domain.model import JobStatus, JobType

BATCH = "01JBATCHBATCHBATCHBATCHBAT"
segments = st.lists(st.text("abcxyz-_.0123456789", min_size=1, max_size=8), max_size=4)


@given(segments, st.booleans())
def test_the_client_reads_the_token_where_the_server_saves_it(
    parts: list[str], absolute: bool
) -> None:
    data_dir = Path("/" if absolute else ".").joinpath(*parts)
    assert admin_token_path(data_dir) == Settings(data_dir=data_dir).admin_token_path


def _child(i: int, status: int) -> dict[str, Any]:
    return {"id": f"C{i:04d}", "type": JobType.SCRAPE, "status": status, "total": 1}


def _batch(total: int) -> WatchState:
    return WatchState(job=Bar(id=BATCH, total=total), type=JobType.NOVEL_BATCH)


@given(st.integers(1, 60), st.integers(1, 60), st.booleans())
def test_a_cut_snapshot_tells_how_many_children_to_expect(
    page: int, beyond: int, one_pending: bool
) -> None:
    """A batch of `page + beyond` children whose feed snapshot holds only `page` of them."""
    items = [_child(i, JobStatus.SUCCESS) for i in range(page)]
    if one_pending:
        items[-1] = _child(page - 1, JobStatus.RUNNING)
    snapshot = {"total": page + beyond, "items": items}
    state = on_children_frame(_batch(page + beyond), "snapshot", snapshot)
    assert state.feed_page == page
    assert children_settled(state) is not one_pending
    again = on_children_frame(on_children_frame(state, "reset", {}), "snapshot", {"total": 0})
    assert again.feed_page == page and not again.children  # the page size stays known


@given(st.integers(1, 60), st.integers(1, 60))
def test_a_whole_snapshot_expects_the_children_created_after_it(seen: int, later: int) -> None:
    """Every child existed in the snapshot; the ones created later arrive as changes."""
    items = [_child(i, JobStatus.SUCCESS) for i in range(seen)]
    state = on_children_frame(_batch(seen + later), "snapshot", {"total": seen, "items": items})
    assert state.feed_page is None
    for i in range(seen, seen + later):
        assert not children_settled(state)
        state = on_children_frame(state, "status", _child(i, JobStatus.FAILED))
    assert children_settled(state)
