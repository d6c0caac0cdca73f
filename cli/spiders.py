"""`jobstream spiders` and `jobstream spider add|test|items`: spiders from a terminal.

`spiders` prints the caller's spiders (an admin's: everyone's) and the installed ones as a
table. `spider add FILE.json` defines a spider from a definition file (`-` reads stdin);
with `--update`, a spider of that name already there gets a new version instead of a 409.
`spider test SPIDER URL [--arg NAME=VALUE ...]` runs the spider's rules on one page, no job,
and prints the rule that applied, the items and the links. `spider items JOB_ID` prints a
SPIDER job's items (`--json`: one JSON object per line, every item). A SPIDER is named by
its id (`sp_...`, `pl_...`) or its name. `submit spider` is in cli/live.py; its body is
`spider_job_body` here. Exit codes: 0 done, 1 the API refused or the file is no definition,
2 no token, a rejected token or no connection.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from cli.http import (
    Api,
    CliError,
    NoToken,
    TokenRejected,
    Unreachable,
    connect,
    connection_options,
    run_console_command,
)

SPIDER_COMMANDS = frozenset({"spiders", "spider"})
PAGE = 100  # the API's largest page
_SPIDER_ID = re.compile(r"(sp|pl)_[0-9A-Za-z-]+")
_ARG = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)=(.*)", re.DOTALL)
MAX_CELL = 60  # a field's value shown in a table cell, in characters


class BadFile(CliError):
    """The definition file cannot be read or is not JSON."""


def parse_arg(text: str) -> tuple[str, str]:
    """`NAME=VALUE` of `--arg` (the value may hold `=`; the API types it)."""
    found = _ARG.fullmatch(text)
    if not found:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return found.group(1), found.group(2)


def _add_arg_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--arg", action="append", type=parse_arg, default=[], dest="args", metavar="NAME=VALUE",
        help="a spider argument (repeat for more)",
    )  # fmt: skip


def add_spider_commands(sub: Any) -> None:
    """Register `spiders` and `spider add|test|items` on the `jobstream` subcommands."""
    common = connection_options()
    listed = sub.add_parser("spiders", parents=[common], help="list your spiders")
    listed.add_argument("--json", action="store_true", help="every spider as the API gives it")
    spider = sub.add_parser("spider", help="define, try and read spiders")
    actions = spider.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[common], help="define a spider from a JSON file")
    add.add_argument("file", type=Path, metavar="FILE.json", help="its definition (- for stdin)")
    add.add_argument("--update", action="store_true",
                     help="a spider of that name gets a new version")  # fmt: skip
    test = actions.add_parser("test", parents=[common], help="run a spider on one page, no job")
    test.add_argument("spider", help="its id or name")
    test.add_argument("page_url", metavar="URL")
    _add_arg_option(test)
    test.add_argument("--json", action="store_true", help="the API's answer as JSON")
    items = actions.add_parser("items", parents=[common], help="a SPIDER job's items")
    items.add_argument("job_id")
    items.add_argument("--json", action="store_true", help="JSON Lines: {url, data} per item")
    items.add_argument("--limit", type=int, default=50, help="rows of the table (default 50)")


def add_spider_submit(kinds: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`submit spider NAME [--arg NAME=VALUE ...]`; cli/live.py adds --priority and --watch."""
    p: argparse.ArgumentParser = kinds.add_parser("spider", parents=[common], help="run a spider")
    p.add_argument("spider", help="the spider's name (or id)")
    _add_arg_option(p)
    p.add_argument("--max-pages", type=int, help="pages at most (default 1000)")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--delay-ms", type=int, help="between requests to one host")
    p.add_argument("--ignore-robots", action="store_true")
    return p


def spider_job_body(args: argparse.Namespace) -> dict[str, Any]:
    """The `POST /api/job/create/spider` body of `submit spider`."""
    key = "spider_id" if _SPIDER_ID.fullmatch(args.spider) else "spider_name"
    body: dict[str, Any] = {key: args.spider, "arguments": dict(args.args)}
    for name in ("max_pages", "concurrency", "delay_ms", "priority"):
        if getattr(args, name, None) is not None:
            body[name] = getattr(args, name)
    if args.ignore_robots:
        body["respect_robots"] = False
    return body


def run_spiders(args: argparse.Namespace) -> int:
    """Run one of SPIDER_COMMANDS; errors are printed on stderr (exit codes above)."""
    return run_console_command(lambda console: _run(args, console), _code)


def _code(e: CliError) -> int:
    return 2 if isinstance(e, NoToken | TokenRejected | Unreachable) else 1


async def _run(args: argparse.Namespace, console: Console) -> int:
    definition = (
        read_definition(args.file) if args.command == "spider" and args.action == "add" else None
    )
    async with connect(args) as api:
        if args.command == "spiders":
            return await list_spiders(api, console, as_json=args.json)
        if args.action == "add":
            return await add_spider(api, definition, console, update=args.update)
        if args.action == "test":
            return await test_spider(api, args, console)
        return await job_items(api, args, console)


# -- spiders -----------------------------------------------------------------------------


async def every_spider(api: Api) -> list[dict[str, Any]]:
    """Every spider the caller sees, page by page."""
    found: list[dict[str, Any]] = []
    while True:
        page = await api.call("GET", "/api/spiders", params={"limit": PAGE, "offset": len(found)})
        found += page["items"]
        if not page["has_more"] or not page["items"]:
            return found


def _arguments(spec: dict[str, Any]) -> str:
    """`start: url (required), lang: string = "en"`."""
    parts = []
    for name, arg in spec.items():
        text = f"{name}: {arg.get('type', 'string')}"
        if arg.get("required"):
            text += " (required)"
        elif arg.get("default") is not None:
            text += f" = {msgspec.json.encode(arg['default']).decode()}"
        parts.append(text)
    return ", ".join(parts)


def spiders_table(spiders: list[dict[str, Any]]) -> Table:
    table = Table(caption=_count(len(spiders), "spider"), caption_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("origin", no_wrap=True)
    table.add_column("arguments", overflow="fold")
    table.add_column("description", overflow="ellipsis", max_width=40)
    for s in spiders:
        arguments = _arguments(s.get("arguments") or {})
        cells = (s["id"], s["name"], s["version"], s["origin"], arguments, s.get("description"))
        table.add_row(*(str(c or "") for c in cells))
    return table


async def list_spiders(api: Api, console: Console, *, as_json: bool) -> int:
    spiders = await every_spider(api)
    if as_json:
        _print_json(spiders, indent=2)
    else:
        console.print(spiders_table(spiders))
    return 0


def read_definition(path: Path) -> Any:
    """The JSON of the definition file (`-`: stdin); BadFile when unreadable or not JSON.
    The API checks the definition itself and names the field that is wrong."""
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as e:
        raise BadFile(f"cannot read {path}: {e.strerror or e}") from e
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise BadFile(f"{path} is not JSON: {e}") from e


async def add_spider(api: Api, definition: Any, console: Console, *, update: bool) -> int:
    """POST the definition; with `update`, PUT it as a new version of the spider of that
    name when the caller already has one."""
    existing = None
    if update and isinstance(definition, dict) and isinstance(definition.get("name"), str):
        mine = [s for s in await every_spider(api) if s["origin"] == "user"]
        existing = next((s for s in mine if s["name"] == definition["name"]), None)
    if existing is not None:
        spider = await api.call("PUT", f"/api/spiders/{existing['id']}", json=definition)
    else:
        spider = await api.call("POST", "/api/spiders", json=definition)
    console.print(f"spider {spider['name']} {spider['id']} version {spider['version']}")
    return 0


async def spider_id(api: Api, given: str) -> str:
    """The id of the spider named `given` (an id is kept as it is)."""
    if _SPIDER_ID.fullmatch(given):
        return given
    for s in await every_spider(api):
        if s["name"] == given:
            return str(s["id"])
    raise CliError(f"no spider named {given!r} (jobstream spiders lists them)")


async def test_spider(api: Api, args: argparse.Namespace, console: Console) -> int:
    """A dry run on one page: the rule that applied, the items (a table), the links."""
    sid = await spider_id(api, args.spider)
    body = {"url": args.page_url, "arguments": dict(args.args)}
    result = await api.call("POST", f"/api/spiders/{sid}/test", json=body)
    if args.json:
        _print_json(result, indent=2)
        return 0
    rule = result.get("rule")
    counts = [_count(len(result["items"]), "item"), f"{result['dropped']} dropped",
              _count(len(result["links"]), "link")]  # fmt: skip
    matched = "no rule matches" if rule is None else f"rule {rule}"
    console.print(f"{result['url']}: HTTP {result['status_code']}, {matched}, {', '.join(counts)}")
    if result["items"]:
        console.print(items_table(result["items"], len(result["items"])))
    for link in result["links"]:
        console.print(f"  → {link}", soft_wrap=True)
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- a job's items -----------------------------------------------------------------------


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def items_table(items: list[dict[str, Any]], total: int) -> Table:
    """Items as rows, one column per field (in order of first appearance), then the page."""
    fields = list(dict.fromkeys(k for item in items for k in item["data"]))
    caption = _count(total, "item")
    if len(items) < total:
        caption += f", the first {len(items)} shown"
    table = Table(caption=caption, caption_justify="left")
    for name in fields:
        table.add_column(name, overflow="fold")
    table.add_column("page", overflow="fold")
    for item in items:
        data = item["data"]
        table.add_row(*(_cell(data.get(name)) for name in fields), str(item["url"]))
    return table


async def job_items(api: Api, args: argparse.Namespace, console: Console) -> int:
    """The job's items: a table of the first `--limit`, or with `--json` every one of them."""
    path = f"/api/job/{args.job_id}/items"
    if not args.json:
        page = await api.call("GET", path, params={"limit": max(1, min(args.limit, PAGE))})
        console.print(items_table(page["items"], int(page["total"])))
        return 0
    offset = 0
    while True:
        page = await api.call("GET", path, params={"limit": PAGE, "offset": offset})
        for item in page["items"]:
            _print_json({"url": item["url"], "data": item["data"]})
        offset += len(page["items"])
        if not page["has_more"] or not page["items"]:
            return 0


async def items_line(api: Api, job_id: str, settle_s: float = 5.0) -> str:
    """`104 items (jobstream spider items ID)`, once the job's row shows it ended (the read
    model lags the stream; a job's items are all counted before its end is)."""
    job: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    end = loop.time() + settle_s
    while not job.get("is_done") and loop.time() < end:
        job = await api.call("GET", f"/api/job/{job_id}")
        if not job.get("is_done"):
            await asyncio.sleep(0.1)
    count = _count(int(job.get("items_scraped") or 0), "item")
    return f"{count} (jobstream spider items {job_id})"


def _print_json(value: Any, *, indent: int = 0) -> None:
    encoded = msgspec.json.encode(value)
    sys.stdout.buffer.write(
        (msgspec.json.format(encoded, indent=indent) if indent else encoded) + b"\n"
    )
    sys.stdout.buffer.flush()
