"""Commands as data, for property tests of `JobService` on any event log: a strategy of
steps, and a runner that carries them out the way the API, the dispatcher and workers do."""

from __future__ import annotations

import operator

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
    RetryJob,
    StartJob,
)
from engine.domain.envelope import CommandEnvelope, command_envelope
from engine.domain.errors import Refusal
from engine.domain.events import PageRecorded
from engine.domain.model import JobType
from engine.domain.state import JobState
from engine.service import JobService

JOBS = [str(ULID.from_int(i << 80)) for i in range(1, 4)]
URLS = [f"https://site.test/p/{i}" for i in range(4)]
# each kind as often as it shows up: workers start jobs and record pages more than users act
KINDS = ["start", "start", "page", "page", "page", "finish", "finish", "cancel", "delete"]
KINDS += ["retry", "fail", "purge", "create"]
Step = tuple[str, int, int]  # kind, index into JOBS, a number the kind makes something of
_one_step = st.tuples(st.sampled_from(KINDS), st.integers(0, len(JOBS) - 1), st.integers(0, 7))
_creates = st.lists(st.integers(0, 7), min_size=len(JOBS), max_size=len(JOBS)).map(
    lambda args: [("create", j, arg) for j, arg in enumerate(args)]
)
steps = st.builds(operator.add, _creates, st.lists(_one_step, max_size=40))
"""Every job created, then up to 40 steps on any of them."""
# What a step did: its outcome (job, sequence), a page's sequence, the refusal, or "skipped".
Done = tuple[JobState | None, int] | int | str


def command(kind: str, job_id: str, n: int, arg: int) -> AnyCommand:
    """The `kind` command of step `n` on `job_id`: its id and time derive from `n`."""
    at, cid = 1_000 + n, str(ULID.from_int((n + 1) << 20))

    def env(actor: str) -> CommandEnvelope:
        return command_envelope(job_id, actor, command_id=cid, at=at)

    match kind:
        case "create":
            kind_of_job = JobType.SCRAPE if arg % 2 else JobType.CRAWL
            return CreateJob(**env("u0"), user_id="u0", type=int(kind_of_job), priority=1)
        case "start":
            return StartJob(**env("w"), worker_id=f"w{arg}")
        case "finish":
            ok = arg % 2 == 0
            return FinishJob(**env("w"), ok=ok, error=None if ok else "boom")
        case "cancel":
            return CancelJob(**env("u0"))
        case "delete":
            return DeleteJob(**env("u0"))
        case "retry":
            return RetryJob(**env("u0"))
        case "fail":
            return FailJob(**env("dispatcher"), error="dependency failed")
        case _:
            return PurgeJob(**env("admin"))


def page(job_id: str, n: int, arg: int) -> PageRecorded:
    """A worker's page event of step `n`: one of URLS, fetched or failed."""
    url = URLS[arg % len(URLS)]
    return PageRecorded(
        event_id=str(ULID.from_int((n + 1) << 20)), job_id=job_id, at=1_000 + n, actor="w",
        url=url, ok=arg % 3 != 0, status=200 if arg % 3 else 404,
    )  # fmt: skip


async def run(service: JobService, raw: list[Step]) -> list[Done]:
    """Carry out `raw` in order; what each step did."""
    return [await _step(service, n, kind, JOBS[j], arg) for n, (kind, j, arg) in enumerate(raw)]


async def _step(service: JobService, n: int, kind: str, job_id: str, arg: int) -> Done:
    log = service.store
    if kind == "page":
        if await log.created(job_id) is None:
            return "skipped"  # no worker runs a job that does not exist
        event = page(job_id, n, arg)
        return await log.append_unchecked(event, msg_id=f"{job_id}:{event.url}:1")
    try:
        outcome = await service.execute(command(kind, job_id, n, arg))
    except Refusal as e:
        return type(e).__name__
    if kind == "purge":  # as engine.purge does: the tombstone, then the log before it
        await log.purge(job_id, before=outcome.seq)
    return outcome.state, outcome.seq
