"""`jobstream novels` and `jobstream download`: the library from a terminal.

`novels` prints the caller's library (an admin's: everyone's) as a table of id, title and
chapters, every page of it. `download ARTIFACT_ID` saves an e-book under the name the API
gives it, here or in the folder `-o DIR`, or as `-o FILE` (`-o -` writes it to stdout).
Exit codes: 0 done, 1 the API refused (e.g. 404 for someone else's artifact), 2 no token, a
rejected token or no connection, 3 the file could not be written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

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

LIBRARY_COMMANDS = frozenset({"novels", "download"})
PAGE = 100  # the API's largest page


class WriteFailed(CliError):
    """The downloaded file could not be written."""


def add_library_commands(sub: Any) -> None:
    """Register `novels` and `download` on the `jobstream` subcommands."""
    common = connection_options()
    novels = sub.add_parser("novels", parents=[common], help="list the novels of your library")
    novels.add_argument("-q", "--search", help="only novels whose title contains this text")
    download = sub.add_parser("download", parents=[common], help="save an e-book (an artifact)")
    download.add_argument("artifact_id", help="the id of the ARTIFACT job that made it")
    download.add_argument(
        "-o", "--output", type=Path, metavar="FILE",
        help="the file, or a folder to save it in under its own name (default: here); - for stdout",
    )  # fmt: skip


def run_library(args: argparse.Namespace) -> int:
    """Run one of LIBRARY_COMMANDS; errors are printed on stderr (exit codes above)."""
    return run_console_command(lambda console: _run(args, console), _code)


def _code(e: CliError) -> int:
    if isinstance(e, WriteFailed):
        return 3
    return 2 if isinstance(e, NoToken | TokenRejected | Unreachable) else 1


async def _run(args: argparse.Namespace, console: Console) -> int:
    async with connect(args) as api:
        if args.command == "novels":
            items, total = await every_novel(api, args.search)
            console.print(novels_table(items, total))
            return 0
        return await download(api, args.artifact_id, args.output, console)


async def every_novel(
    api: Api, search: str | None, page_size: int = PAGE
) -> tuple[list[dict[str, Any]], int]:
    """Every novel of the library (with `search`, those whose title has it), page by page."""
    items: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": page_size} | ({"q": search} if search else {})
    while True:
        page = await api.call("GET", "/api/novels", params={**params, "offset": len(items)})
        items += page["items"]
        if not page["has_more"] or not page["items"]:
            return items, int(page["total"])


def novels_table(items: list[dict[str, Any]], total: int) -> Table:
    table = Table(caption=f"{total} novel{'' if total == 1 else 's'}", caption_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("title", overflow="ellipsis", no_wrap=True, max_width=70)
    table.add_column("chapters", justify="right", no_wrap=True)
    for novel in items:
        table.add_row(str(novel["id"]), str(novel["title"]), str(novel["chapter_count"]))
    return table


async def download(api: Api, artifact_id: str, output: Path | None, console: Console) -> int:
    """Save the artifact's file; print where (and its size) unless it went to stdout."""
    data, headers = await api.fetch(f"/api/artifact/{artifact_id}/download")
    if output == Path("-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    name = file_name(headers.get("Content-Disposition", ""), artifact_id)
    target = output / name if output is not None and output.is_dir() else output or Path(name)
    await asyncio.to_thread(save, target, data)
    console.print(f"saved {target} ({len(data):,} bytes)")
    return 0


_EXTENDED = re.compile(r"filename\*=UTF-8''([^;\s]+)", re.IGNORECASE)
_PLAIN = re.compile(r'filename="([^"]*)"', re.IGNORECASE)


def file_name(disposition: str, fallback: str) -> str:
    """The file name a `Content-Disposition` gives (RFC 5987's exact one first), reduced to a
    bare name so that it cannot point outside the current directory; `fallback` without one."""
    found = _EXTENDED.search(disposition)
    name = unquote(found.group(1)) if found else ""
    if not name and (plain := _PLAIN.search(disposition)):
        name = plain.group(1)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return fallback if name in ("", ".", "..") else name


def save(target: Path, data: bytes) -> None:
    """Write `data` to `target` whole or not at all (a temporary file, then renamed)."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(tmp).replace(target)
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise WriteFailed(f"cannot write {target}: {e.strerror or e}") from e
