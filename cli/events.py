"""`jobstream events JOB_ID`: a job's history as a readable timeline, read over HTTP.

It pages through `GET /api/events?job_id=` to the end and prints one line per event: time
(UTC), log sequence, kind and a short summary of the event's data.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

import msgspec
from rich.console import Console
from rich.text import Text

from cli.http import Api, CliError, NoToken, Unreachable, connect, connection_options
from cli.names import priority_name, status_name, type_name


def add_events_command(sub: Any) -> None:
    """Register `events` on the `jobstream` subcommands."""
    p = sub.add_parser(
        "events", parents=[connection_options()], help="print a job's event history as a timeline"
    )
    p.add_argument("job_id")
    p.add_argument("--limit", type=int, default=1000, help="events per request (at most 1000)")


def run_events(args: argparse.Namespace) -> int:
    """Exit 0 once printed; 2 without a token or a connection, 1 when the API refuses."""
    console = Console(soft_wrap=True, highlight=False)
    try:
        count = asyncio.run(_run(console, args))
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, NoToken | Unreachable) else 1
    console.print(f"{count} event{'' if count == 1 else 's'}")
    return 0


async def _run(console: Console, args: argparse.Namespace) -> int:
    async with connect(args) as api:
        return await _timeline(console, api, args.job_id, args.limit)


async def _timeline(console: Console, api: Api, job_id: str, limit: int) -> int:
    """Print every event of the job, following `next_seq` while `has_more`; how many."""
    params: dict[str, str | int] = {"job_id": job_id, "limit": limit, "from_seq": 0}
    count = 0
    while True:
        page = await api.call("GET", "/api/events", params=params)
        for record in page["items"]:
            console.print(line(record))
        count += len(page["items"])
        if not page["has_more"]:
            return count
        params["from_seq"] = page["next_seq"]


def _page(d: dict[str, Any], _: str) -> str:
    text = f"{'ok' if d.get('ok') else 'failed'} {d.get('status', 0)} {d.get('url', '')}"
    return f"{text} ({d['error']})" if d.get("error") else text


def _json(data: Any, width: int = 100) -> str:
    text = msgspec.json.encode(data if data is not None else {}).decode()
    return text if len(text) <= width else text[: width - 1] + "…"


def _created(d: dict[str, Any], _: str) -> str:
    parent = f", child of {d['parent_job_id']}" if d.get("parent_job_id") else ""
    kind, priority = type_name(d.get("type")), priority_name(d.get("priority"))
    return (
        f"{kind} {d.get('title', '')!r}, priority {priority}, for user {d.get('user_id')}{parent}"
    )


def _by(d: dict[str, Any], actor: str) -> str:
    return f"by {actor}"


_SUMMARY: dict[str, Callable[[dict[str, Any], str], str]] = {
    "created": _created,
    "started": lambda d, _: f"by {d.get('worker_id')} (attempt {d.get('attempt', 1)})",
    "page": _page,
    "item": lambda d, _: f"#{d.get('index', 0)} of {d.get('url', '')}: {_json(d.get('data'))}",
    "progress": lambda d, _: (
        f"{d.get('done', 0)}/{d.get('total', 0)} done, {d.get('failed', 0)} failed, "
        f"{d.get('skipped', 0)} skipped"
    ),
    "log": lambda d, _: f"{d.get('level', 'info')}: {d.get('message', '')}",
    "child_finished": lambda d, _: f"{d.get('child_id')} {status_name(d.get('status'))}",
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
