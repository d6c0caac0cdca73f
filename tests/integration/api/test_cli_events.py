"""`jobstream events JOB_ID` as a real process against the running API."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from engine.domain.envelope import event_envelope
from engine.domain.events import LogWritten, PageRecorded, kind_of
from tests.integration.api.helpers import create, engine, finish, log_of, start
from tests.support import Service, cli_env, free_port, run_cli


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).replace(tzinfo=None)


async def _events(*args: str, **env: str) -> tuple[int, str, str]:
    """Run `jobstream events ...`; exit status, stdout, stderr."""
    return await run_cli("events", *args, env=cli_env(**env))


async def _record_a_crawl(svc: Service, job_id: str) -> None:
    await start(svc, job_id)
    store = engine(svc).store
    for url, ok, status in (("https://example.com/a", True, 200), ("https://x.test/b", False, 404)):
        page = PageRecorded(
            **event_envelope(job_id, "w1"), url=url, ok=ok, status=status,
            error=None if ok else "not found",
        )  # fmt: skip
        await store.append_unchecked(page)
    line = LogWritten(**event_envelope(job_id, "w1"), message="hi")
    await store.append_unchecked(line)
    await finish(svc, job_id, ok=True)


PRIORITY_NAMES = {0: "low", 1: "normal", 2: "high"}


async def test_timeline_of_a_job_paged_to_the_end(api: Service) -> None:
    user, stranger = await api.add_user("u"), await api.add_user("s")
    assert user.token and stranger.token
    job = await create(user)
    await _record_a_crawl(api, job["id"])
    log = await log_of(api, job["id"])
    assert len(log) == 6

    mine, admin, theirs, nowhere = await asyncio.gather(
        # paged 2 by 2, token from the environment
        _events(job["id"], "--url", api.admin.base, "--limit", "2", JOBSTREAM_TOKEN=user.token),
        # the admin token from the data dir, URL from the environment
        _events(job["id"], "--data-dir", str(api.settings.data_dir), JOBSTREAM_URL=api.admin.base),
        _events(job["id"], "--url", api.admin.base, "--token", stranger.token),
        _events(job["id"], "--url", f"http://127.0.0.1:{free_port()}", "--token", user.token),
    )
    status, out, err = mine
    assert (status, err) == (0, ""), err
    lines = out.splitlines()
    assert len(lines) == len(log) + 1 and lines[-1] == f"{len(log)} events"
    summaries = []
    for text, stored in zip(lines, log, strict=False):
        day, time, seq, kind, *summary = text.split()
        assert (int(seq), kind) == (stored.seq, kind_of(stored.event)), text
        assert f"{day} {time}".startswith(str(_utc(stored.event.at))[:23]), text
        summaries.append(" ".join(summary))
    assert summaries == [
        f"novel 'https://example.com/novel.html', priority {PRIORITY_NAMES[job['priority']]}, "
        f"for user {job['user_id']}",
        "by w1 (attempt 1)",
        "ok 200 https://example.com/a",
        "failed 404 https://x.test/b (not found)",
        "info: hi",
        "",
    ]

    assert admin[0] == 0 and admin[1] == out, admin[2]
    assert theirs[0] == 1 and "404" in theirs[2] and "not found" in theirs[2], theirs
    assert nowhere[0] == 2 and "cannot reach" in nowhere[2], nowhere


async def test_without_any_token_it_says_where_to_find_one(tmp_path: Path) -> None:
    status, _, err = await _events("01J00000000000000000000000", "--data-dir", str(tmp_path))
    assert status == 2
    assert "JOBSTREAM_TOKEN" in err and "--token" in err
