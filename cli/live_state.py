"""What `jobstream watch` knows about a job, folded from its SSE frames, and how it is drawn.

Everything here is pure: `on_job_frame` and `on_children_frame` return a new state for one
frame, `view` turns a state into a rich renderable, `final_line` and `exit_code` say how the
watch ends. The command (cli/live.py) only moves frames from the network into these.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from cli.names import priority_name, status_name, type_name
from engine.domain.model import BATCH_TYPES, JobStatus, JobType

MAX_CHILD_ROWS = 20
CHAPTER_COUNTED = frozenset({JobType.FULL_NOVEL})
_COUNTERS = ("done", "failed", "total", "skipped", "percentage")
_STYLE: dict[int, str] = {
    JobStatus.PENDING: "dim",
    JobStatus.RUNNING: "cyan",
    JobStatus.SUCCESS: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "yellow",
}


class Bar(msgspec.Struct, frozen=True, kw_only=True):
    """One job's counters as last reported."""

    id: str
    title: str = ""
    status: int = JobStatus.PENDING
    done: int = 0
    failed: int = 0
    total: int = 0
    skipped: int = 0
    percentage: float = 0.0
    error: str | None = None
    type: int | None = None

    @property
    def is_done(self) -> bool:
        return self.status >= JobStatus.SUCCESS


class WatchState(msgspec.Struct, frozen=True, kw_only=True):
    """A watched job, its batch children (when it has any) and where its stream stands.

    `last_id` is the id to resume the job stream from; `finished` is set by the `done` frame.
    `children` is replaced, never mutated, on every change. `feed_page` is how many jobs the
    children feed's snapshot holds at most, known once a snapshot came cut short (fewer items
    than its total); None while every snapshot held all the children there were.
    """

    job: Bar
    type: int | None = None
    started_at: int | None = None
    children: dict[str, Bar] = msgspec.field(default_factory=dict)
    last_id: int | None = None
    finished: bool = False
    deleted: bool = False
    last_page: str | None = None
    last_log: str | None = None
    feed_page: int | None = None

    @property
    def is_batch(self) -> bool:
        return self.type in BATCH_TYPES

    @property
    def counts_chapters(self) -> bool:
        """The job's counters are its read-model row's chapter roll-up, not its stream's:
        a FULL_NOVEL's own log only counts its two children (VOLUME_BATCH and ARTIFACT)."""
        return self.type in CHAPTER_COUNTED

    @property
    def has_children(self) -> bool:
        return self.is_batch or self.counts_chapters


def bar_of_job(job: dict[str, Any]) -> Bar:
    """A bar from a job object as the API serves it (progress as a number or an object)."""
    progress = job.get("progress")
    pct = progress.get("percentage", 0.0) if isinstance(progress, dict) else progress
    skipped = progress.get("skipped_tasks", 0) if isinstance(progress, dict) else 0
    return Bar(
        id=str(job["id"]), title=str(job.get("job_title") or ""), status=int(job["status"]),
        done=int(job.get("done", 0)), failed=int(job.get("failed", 0)),
        total=int(job.get("total", 0)), skipped=int(skipped or 0),
        percentage=float(pct or 0.0), error=job.get("error"),
        type=None if job.get("type") is None else int(job["type"]),
    )  # fmt: skip


def _counters(bar: Bar, data: dict[str, Any]) -> Bar:
    changes: dict[str, Any] = {
        k: data[k] for k in ("status", "done", "failed", "total", "skipped") if k in data
    }
    if "percentage" in data:
        changes["percentage"] = float(data["percentage"])
    if "error" in data:
        changes["error"] = data["error"]
    return msgspec.structs.replace(bar, **changes)


def on_job_frame(state: WatchState, event: str, data: dict[str, Any], seq: int) -> WatchState:
    """The state after one frame of `/api/job/{id}/stream`."""
    if event == "error":
        resume = data.get("resume")
        return msgspec.structs.replace(state, last_id=state.last_id if resume is None else resume)
    state = msgspec.structs.replace(state, last_id=seq)
    if state.counts_chapters:  # the row's roll-up counts chapters; this stream, children
        data = {k: v for k, v in data.items() if k not in _COUNTERS}
    match event:
        case "snapshot":
            return _snapshot(state, data)
        case "progress" | "status":
            deleted = state.deleted or bool(data.get("deleted"))
            return msgspec.structs.replace(state, job=_counters(state.job, data), deleted=deleted)
        case "done":
            job = _counters(state.job, data)
            deleted = bool(data.get("deleted"))
            return msgspec.structs.replace(state, job=job, finished=True, deleted=deleted)
        case "page":
            return msgspec.structs.replace(state, last_page=str(data.get("url") or ""))
        case "log":
            line = f"{data.get('level', 'info')}: {data.get('message', '')}"
            return msgspec.structs.replace(state, last_log=line)
    return state


def _snapshot(state: WatchState, data: dict[str, Any]) -> WatchState:
    state = msgspec.structs.replace(
        state, type=data.get("type"), started_at=data.get("started_at"),
        deleted=bool(data.get("deleted")),
    )  # fmt: skip
    if not state.counts_chapters:
        return msgspec.structs.replace(state, job=bar_of_job(data))
    counters = {k: getattr(state.job, k) for k in _COUNTERS}
    return msgspec.structs.replace(state, job=bar_of_job(data | counters))


def on_job_row(state: WatchState, job: dict[str, Any]) -> WatchState:
    """The state after reading the job's row (`GET /api/job/{id}`): a chapter-counted job
    takes its counters from it, never going back; others keep what their stream said."""
    if not state.counts_chapters:
        return state
    row = bar_of_job(job)
    if row.done + row.failed < state.job.done + state.job.failed:
        return state  # an older read than what is drawn
    changes = {k: getattr(row, k) for k in _COUNTERS}
    return msgspec.structs.replace(state, job=msgspec.structs.replace(state.job, **changes))


def on_children_rows(state: WatchState, items: list[dict[str, Any]]) -> WatchState:
    """The state after reading the job's children's rows (`GET /api/jobs?parent_job_id=`)."""
    return msgspec.structs.replace(
        state, children=state.children | {b.id: b for b in map(bar_of_job, items)}
    )


def on_children_frame(state: WatchState, event: str, data: dict[str, Any]) -> WatchState:
    """The state after one frame of `/api/jobs/stream?parent_job_id=<the watched job>`."""
    match event:
        case "snapshot":
            return _children_snapshot(state, data)
        case "status" | "progress":
            bar = bar_of_job(data)
            children = state.children | {bar.id: bar}
        case "removed":
            children = {k: v for k, v in state.children.items() if k != data.get("id")}
        case "reset":
            children = {}
        case _:
            return state
    return msgspec.structs.replace(state, children=children)


def _children_snapshot(state: WatchState, data: dict[str, Any]) -> WatchState:
    """The children a snapshot holds; a snapshot cut short tells the feed's page size.

    Children created after a snapshot reach the feed as changes, but those beyond a cut
    snapshot that never change again never do: `children_settled` expects no more of them.
    """
    items = data.get("items", [])
    children = {b.id: b for b in map(bar_of_job, items)}
    cut = len(items) < int(data.get("total", 0))
    page = len(items) if cut else state.feed_page
    return msgspec.structs.replace(state, children=children, feed_page=page)


def children_settled(state: WatchState) -> bool:
    """The feed has shown the job's children (as many as its snapshot holds), all ended."""
    page = state.job.total if state.feed_page is None else state.feed_page
    expected = min(state.job.total, page) if state.is_batch else 0
    children = state.children.values()
    return len(children) >= expected and all(c.is_done for c in children)


def exit_code(state: WatchState) -> int:
    """0 when the job succeeded, 1 when it failed, was canceled or was deleted."""
    return 0 if state.job.status == JobStatus.SUCCESS and not state.deleted else 1


def final_line(state: WatchState, seconds: float) -> str:
    """The one line a watch ends with, naming the job, its outcome and its counts."""
    job = state.job
    counts = f"{job.done} ok, {job.failed} failed in {seconds:.1f} s"
    if state.counts_chapters:
        counts = _chapters(state, seconds)
    if state.deleted:
        return f"✗ job {job.id} was deleted: {counts}"
    if job.status == JobStatus.SUCCESS:
        return f"✓ job {job.id} success: {counts}"
    if job.status == JobStatus.FAILED:
        return f"✗ job {job.id} failed: {job.error or 'no error given'} ({counts})"
    return f"✗ job {job.id} {status_name(job.status)}: {counts}"


def _chapters(state: WatchState, seconds: float) -> str:
    """`260 of 260 chapters, 0 failed in 3.1 s`: the VOLUME_BATCH's counts when the job
    expanded (the job's own also count its epub), else the job's."""
    batches = [c for c in state.children.values() if c.type == JobType.VOLUME_BATCH]
    bar = batches[0] if batches else state.job
    return f"{bar.done} of {bar.total} chapters, {bar.failed} failed in {seconds:.1f} s"


def _row(table: Table, bar: Bar, label: str) -> None:
    style = _STYLE.get(bar.status, "")
    counts = f"{bar.done} ok · {bar.failed} fail"
    counts += f" / {bar.total}" if bar.total else ""
    table.add_row(
        Text(label, overflow="ellipsis", no_wrap=True),
        Text(status_name(bar.status), style=style),
        ProgressBar(
            total=100.0,
            completed=bar.percentage,
            width=20,
            complete_style=style or "cyan",
            finished_style=style or "green",
        ),
        f"{bar.percentage:5.1f}%",
        counts,
    )


def view(state: WatchState) -> RenderableType:
    """The watched job's bar, its children's bars below it, and the latest page and log."""
    table = Table.grid(padding=(0, 1))
    table.add_column(max_width=60)  # the one column that gives way on a narrow terminal
    table.add_column(no_wrap=True, min_width=8)
    for _ in range(3):
        table.add_column(no_wrap=True)
    _row(table, state.job, state.job.title or state.job.id)
    running_first = sorted(state.children.values(), key=lambda b: (b.is_done, b.id))
    for child in running_first[:MAX_CHILD_ROWS]:
        _row(table, child, f"  └ {child.title or child.id}")
    parts: list[RenderableType] = [table]
    if len(running_first) > MAX_CHILD_ROWS:
        parts.append(Text(f"    … and {len(running_first) - MAX_CHILD_ROWS} more", style="dim"))
    if state.last_page and not state.finished:
        parts.append(Text(f"  {state.last_page}", style="dim", overflow="ellipsis", no_wrap=True))
    if state.last_log:
        parts.append(Text(f"  {state.last_log}", style="dim", overflow="ellipsis", no_wrap=True))
    return Group(*parts)


def _when(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else ""


_LIST_COLUMNS = ("id", "type", "status", "priority", "progress", "ok / failed / total", "created")


def jobs_table(items: list[dict[str, Any]], total: int) -> Table:
    """The `ls` table of job objects as `GET /api/jobs?include=progress` serves them. Ids are
    never cut (they are there to be copied): every column but the title keeps its width, the
    title gives way, and on a terminal narrower than that the lines are cut at its edge."""
    table = Table(caption=f"{len(items)} of {total} jobs", caption_justify="left")
    rows = [_list_row(job) for job in items]
    for i, name in enumerate(_LIST_COLUMNS):
        width = max([len(name), *(len(row[i].plain) for row in rows)])
        right = name in ("progress", "ok / failed / total")
        table.add_column(name, no_wrap=True, width=width, justify="right" if right else "left")
    table.add_column("title", overflow="ellipsis", max_width=60)  # wraps: the one that gives way
    for row in rows:
        table.add_row(*row)
    return table


TITLE_MIN = 12


def print_jobs(console: Console, items: list[dict[str, Any]], total: int) -> None:
    """Print `jobs_table`: as wide as the terminal, or on one narrower than every column but
    the title needs, that wide (the terminal wraps the lines; nothing is cut)."""
    table = jobs_table(items, total)
    fixed = sum(c.width or 0 for c in table.columns) + TITLE_MIN
    needed = fixed + 3 * len(table.columns) + 1  # a border and two spaces each, one more
    terminal = console.width
    console.width = max(terminal, needed)  # print(width=) would be capped at the terminal's
    try:
        console.print(table, crop=False)
    finally:
        console.width = terminal


def _list_row(job: dict[str, Any]) -> list[Text]:
    bar = bar_of_job(job)
    return [
        Text(bar.id), Text(type_name(job["type"])),
        Text(status_name(bar.status), style=_STYLE.get(bar.status, "")),
        Text(priority_name(job.get("priority"))), Text(f"{bar.percentage:.1f}%"),
        Text(f"{bar.done} / {bar.failed} / {bar.total}"), Text(_when(job.get("created_at"))),
        Text(bar.title),
    ]  # fmt: skip
