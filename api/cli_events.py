"""`jobstream events JOB_ID`: a job's history as a readable timeline, read over HTTP.

It pages through `GET /api/events?job_id=` to the end and prints one line per event: time
(UTC), log sequence, kind and a short summary of the event's data.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from rich.console import Console
from rich.text import Text

from api.settings import Settings
from engine.errors import EngineError
from engine.model import JobStatus

DEFAULT_URL = "http://127.0.0.1:8080"
_TIMEOUT = aiohttp.ClientTimeout(total=30)


class TimelineError(EngineError):
    """The timeline cannot be printed; the message is meant for the user."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_events_command(sub: Any) -> None:
    """Register `events` on the `jobstream` subcommands."""
    p = sub.add_parser("events", help="print a job's event history as a timeline")
    p.add_argument("job_id")
    p.add_argument("--url", help=f"API base URL (default: JOBSTREAM_URL, else {DEFAULT_URL})")
    p.add_argument(
        "--token", help="bearer token (default: JOBSTREAM_TOKEN, else the data dir's admin token)"
    )
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--limit", type=int, default=1000, help="events per request (at most 1000)")


def api_url(given: str | None) -> str:
    return (given or os.environ.get("JOBSTREAM_URL") or DEFAULT_URL).rstrip("/")


def api_token(given: str | None, data_dir: Path) -> str:
    """--token, else JOBSTREAM_TOKEN, else the admin token saved in the data dir."""
    token = given or os.environ.get("JOBSTREAM_TOKEN")
    if token:
        return token.strip()
    path = Settings(data_dir=data_dir).admin_token_path
    try:
        return path.read_text().strip()
    except OSError as e:
        raise TimelineError(
            f"no token: pass --token, set JOBSTREAM_TOKEN, or point --data-dir at a data dir "
            f"with an admin token ({path}: {e.strerror})",
            exit_code=2,
        ) from e


def run_events(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True, highlight=False)
    try:
        token = api_token(args.token, args.data_dir)
        count = asyncio.run(_timeline(console, api_url(args.url), token, args))
    except TimelineError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    console.print(f"{count} event{'' if count == 1 else 's'}")
    return 0


async def _timeline(console: Console, base: str, token: str, args: argparse.Namespace) -> int:
    """Print every event of the job, following `next_seq` while `has_more`; how many."""
    headers = {"Authorization": f"Bearer {token}"}
    params: dict[str, str | int] = {"job_id": args.job_id, "limit": args.limit, "from_seq": 0}
    count = 0
    async with aiohttp.ClientSession(timeout=_TIMEOUT, headers=headers) as session:
        while True:
            page = await _get(session, f"{base}/api/events", params)
            for record in page["items"]:
                console.print(line(record))
            count += len(page["items"])
            if not page["has_more"]:
                return count
            params["from_seq"] = page["next_seq"]


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, Any]) -> Any:
    try:
        async with session.get(url, params=params) as resp:
            body = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as e:
        raise TimelineError(f"cannot reach {url}: {e or type(e).__name__}", exit_code=2) from e
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError as e:
        raise TimelineError(f"{url} answered {status} with no JSON") from e
    detail = decoded.get("detail", decoded) if isinstance(decoded, dict) else decoded
    if status == 401:
        raise TimelineError(f"token rejected: {detail}")
    if status != 200:
        raise TimelineError(f"{status}: {detail}")
    return decoded


def _status(value: Any) -> str:
    try:
        return JobStatus(int(value)).name.lower()
    except (TypeError, ValueError):
        return str(value)


def _page(d: dict[str, Any], _: str) -> str:
    text = f"{'ok' if d.get('ok') else 'failed'} {d.get('status', 0)} {d.get('url', '')}"
    return f"{text} ({d['error']})" if d.get("error") else text


def _created(d: dict[str, Any], _: str) -> str:
    parent = f", child of {d['parent_job_id']}" if d.get("parent_job_id") else ""
    return f"type {d.get('type')} {d.get('title', '')!r} for user {d.get('user_id')}{parent}"


def _by(d: dict[str, Any], actor: str) -> str:
    return f"by {actor}"


_SUMMARY: dict[str, Callable[[dict[str, Any], str], str]] = {
    "created": _created,
    "started": lambda d, _: f"by {d.get('worker_id')} (attempt {d.get('attempt', 1)})",
    "page": _page,
    "progress": lambda d, _: (
        f"{d.get('done', 0)}/{d.get('total', 0)} done, {d.get('failed', 0)} failed, "
        f"{d.get('skipped', 0)} skipped"
    ),
    "log": lambda d, _: f"{d.get('level', 'info')}: {d.get('message', '')}",
    "child_finished": lambda d, _: f"{d.get('child_id')} {_status(d.get('status'))}",
    "failed": lambda d, _: str(d.get("error", "")),
    "canceled": lambda d, actor: str(d.get("reason") or f"by {actor}"),
    "succeeded": lambda d, _: "",
    "cancel_requested": _by,
    "deleted": _by,
    "retry_requested": _by,
    "purged": _by,
}
_STYLE = {"failed": "red", "canceled": "yellow", "succeeded": "green", "purged": "magenta"}


def summary(kind: str, data: dict[str, Any], actor: str) -> str:
    """A short human summary of one event's data, e.g. `ok 200 https://example.com/`."""
    describe = _SUMMARY.get(kind)
    return describe(data, actor) if describe else msgspec.json.encode(data).decode()


def line(record: dict[str, Any]) -> Text:
    """One timeline line: UTC time, sequence, kind, summary."""
    when = dt.datetime.fromtimestamp(record["at"] / 1000, tz=dt.UTC)
    kind, data = str(record["kind"]), record.get("data") or {}
    style = _STYLE.get(kind, "red" if kind == "page" and not data.get("ok") else "")
    return Text.assemble(
        (when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "dim"),
        f"  {record['seq']:>8}  ",
        (f"{kind:<16}", style or "bold"),
        " ",
        summary(kind, data, str(record.get("actor", ""))),
    )
