"""Hypothesis strategies: command sequences that drive jobs through their life; the logs they
make, split per job."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from ulid import ULID

from engine.domain.commands import (
    AnyCommand,
    CancelJob,
    CreateJob,
    DeleteJob,
    FailJob,
    FinishJob,
    PurgeJob,
    RecordChild,
    RetryJob,
    StartJob,
)
from engine.domain.decide import decide
from engine.domain.envelope import command_envelope, event_envelope
from engine.domain.errors import Refusal
from engine.domain.events import AnyEvent, PageRecorded
from engine.domain.state import JobState, evolve

JOB_IDS = [str(ULID.from_int(i << 80)) for i in range(1, 6)]
URLS = [f"https://site.test/p/{i}" for i in range(6)]
History = list[tuple[int, AnyEvent]]


def _cid(n: int) -> str:
    return str(ULID.from_int((n + 1) << 20))


def _command(kind: str, job_id: str, n: int, arg: int) -> AnyCommand:
    env = command_envelope(job_id, f"u{arg % 2}", command_id=_cid(n), at=1_000 + n)
    match kind:
        case "create":
            return CreateJob(**env, user_id="u0", type=arg % 3 * 10, priority=arg % 3)
        case "cancel":
            return CancelJob(**env)
        case "delete":
            return DeleteJob(**env)
        case "start":
            return StartJob(**env, worker_id=f"w{arg}")
        case "finish":
            return FinishJob(**env, ok=arg % 2 == 0, error=None if arg % 2 == 0 else "boom")
        case "fail":
            return FailJob(**env, error="dependency failed")
        case "child":
            return RecordChild(**env, child_id=JOB_IDS[arg % 5], status=2 + arg % 3)
        case "purge":
            return PurgeJob(**env)
        case _:
            return RetryJob(**env)


KINDS = ["create", "cancel", "delete", "start", "finish", "fail", "child", "retry", "page", "purge"]
steps = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(JOB_IDS), st.integers(0, 11)), max_size=60
)


def _page(job_id: str, n: int, arg: int) -> PageRecorded:
    return PageRecorded(
        **event_envelope(job_id, "w1", event_id=_cid(n), at=1_000 + n),
        url=URLS[arg % len(URLS)], ok=arg % 3 != 0, status=200 if arg % 3 else 404,
    )  # fmt: skip


def run_steps(raw: list[tuple[str, str, int]]) -> list[AnyEvent]:
    """The log that a sequence of commands (and worker page events) produces, in order."""
    states: dict[str, JobState | None] = dict.fromkeys(JOB_IDS)
    log: list[AnyEvent] = []
    for n, (kind, job_id, arg) in enumerate(raw):
        if kind == "page":
            events: list[AnyEvent] = [_page(job_id, n, arg)] if states[job_id] else []
        else:
            try:
                events = decide(states[job_id], _command(kind, job_id, n, arg))
            except Refusal:
                continue
        for event in events:
            states[job_id] = evolve(states[job_id], event)
            log.append(event)
    return log


def by_job(log: list[AnyEvent]) -> dict[str, History]:
    """The log per job, each event with its sequence number (from 1) in the whole log."""
    out: dict[str, History] = {}
    for seq, event in enumerate(log, start=1):
        out.setdefault(event.job_id, []).append((seq, event))
    return out


def cmd(kind: type, n: int, **fields: object) -> Any:
    """A `kind` command by u0 on the first job, its id and time made from `n`."""
    env = command_envelope(JOB_IDS[0], "u0", command_id=f"01J0000000000000000000000{n}", at=n)
    return kind(**env, **fields)
