"""`jobstream results`, `cancel`, `retry`, `replay` and `rm`: steer a job and harvest it.

`results ID` writes every result of a job: `--format jsonl` (the default) or `csv` as the
API's export streams them (`GET /api/job/{id}/export?type=results`), `md` as each page's
markdown under a comment naming its URL (read page by page from `/api/job/{id}/results`).
It goes to stdout, or whole or not at all to `-o FILE` (a folder: the export's own file name).
`replay` prints the new job's id (a script can take it); `retry` and `replay` with `--watch`
follow the job as `watch` does. Exit codes: 0 done (with `--watch`: the job succeeded), 1 the
API refused (a job not yours, a finished job's cancel, a retry with nothing failed) or the
watched job did not succeed, 2 no token, a rejected token or no connection, 3 the file could
not be written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console

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
from cli.library import WriteFailed, file_name
from cli.live import Watcher
from cli.names import status_name, type_name
from engine.domain.model import JobStatus

JOB_COMMANDS = frozenset({"results", "cancel", "retry", "replay", "rm"})
FORMATS = ("jsonl", "csv", "md")
PAGE = 100  # the API's largest page
CHUNK = 64 * 1024


def add_job_commands(sub: Any) -> None:
    """Register JOB_COMMANDS on the `jobstream` subcommands."""
    common = connection_options()
    results = sub.add_parser("results", parents=[common], help="write every result of a job")
    results.add_argument("job_id")
    results.add_argument(
        "--format", choices=FORMATS, default="jsonl",
        help="jsonl (default) or csv: the API's export; md: each page's markdown",
    )  # fmt: skip
    results.add_argument(
        "-o", "--output", type=Path, metavar="FILE",
        help="write to FILE (a folder: under the export's name); default: stdout",
    )  # fmt: skip
    cancel = sub.add_parser("cancel", parents=[common], help="cancel a pending or running job")
    cancel.add_argument("job_id")
    retry = sub.add_parser("retry", parents=[common],
                           help="queue a finished job again for what failed")  # fmt: skip
    replay = sub.add_parser("replay", parents=[common],
                            help="a new job with the same type and parameters")  # fmt: skip
    for p in (retry, replay):
        p.add_argument("job_id")
        p.add_argument("--watch", action="store_true", help="follow the job until it ends")
    rm = sub.add_parser("rm", parents=[common], help="delete a job (stopping it first)")
    rm.add_argument("job_id")
    rm.add_argument("--purge", action="store_true",
                    help="admins: erase a finished job's history and results for good")  # fmt: skip


def run_jobs(args: argparse.Namespace) -> int:
    """Run one of JOB_COMMANDS; errors are printed on stderr (exit codes above)."""
    return run_console_command(lambda console: _run(args, console), _code)


def _code(e: CliError) -> int:
    if isinstance(e, WriteFailed):
        return 3
    return 2 if isinstance(e, NoToken | TokenRejected | Unreachable) else 1


async def _run(args: argparse.Namespace, console: Console) -> int:
    async with connect(args) as api:
        job_id = str(args.job_id)
        match args.command:
            case "results":
                return await results(api, job_id, args.format, args.output, console)
            case "cancel":
                return await cancel(api, job_id, console)
            case "retry" | "replay":
                return await rerun(api, job_id, args.command, args.watch, console)
        return await remove(api, job_id, args.purge, console)


async def results(
    api: Api, job_id: str, fmt: str, output: Path | None, console: Console
) -> int:  # fmt: skip
    """Write the job's results in `fmt` to `output` (None or `-`: stdout)."""
    if fmt == "md":
        await api.call("GET", f"/api/job/{job_id}")  # a 404 before any file is made
        target = _target(output, f"job-{job_id}-results.md")
        with sink(target) as out:
            written = await _markdown(api, job_id, out)
    else:
        params = {"type": "results", "format": fmt}
        async with api.download(f"/api/job/{job_id}/export", params) as resp:
            fallback = f"job-{job_id}-results.{fmt}"
            target = _target(
                output, file_name(resp.headers.get("Content-Disposition", ""), fallback)
            )
            with sink(target) as out:
                written = 0
                async for chunk in resp.content.iter_chunked(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
    if target is not None:
        console.print(f"saved {target} ({written:,} bytes)")
    return 0


def _target(output: Path | None, name: str) -> Path | None:
    """Where to write: None for stdout; in a folder, `name` in it."""
    if output is None or output == Path("-"):
        return None
    return output / name if output.is_dir() else output


async def _markdown(api: Api, job_id: str, out: IO[bytes]) -> int:
    """Every result's markdown, page by page, each under a comment naming its URL."""
    offset, written = 0, 0
    while True:
        params = {"offset": offset, "limit": PAGE}
        page = await api.call("GET", f"/api/job/{job_id}/results", params=params)
        for item in page["items"]:
            block = markdown_block(item).encode()
            out.write(block)
            written += len(block)
        offset += len(page["items"])
        if not page["has_more"] or not page["items"]:
            return written


def markdown_block(item: dict[str, Any]) -> str:
    """One result as markdown: `<!-- URL · status -->`, then its markdown (or why none)."""
    url, status = item.get("final_url") or item.get("url"), item.get("status_code")
    head = f"<!-- {url} · {status} -->" if status else f"<!-- {url} -->"
    body = item.get("markdown")
    if body is None:
        body = f"_no markdown: {item.get('error') or 'none was stored'}_"
    return f"{head}\n\n{str(body).strip()}\n\n"


@contextlib.contextmanager
def sink(target: Path | None) -> Iterator[IO[bytes]]:
    """stdout, or a temporary file beside `target` renamed onto it once all was written
    (removed if not): a file is whole or absent. WriteFailed when it cannot be written."""
    if target is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as e:
        raise WriteFailed(f"cannot write {target}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        Path(tmp).replace(target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise WriteFailed(f"cannot write {target}: {e.strerror or e}") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def cancel(api: Api, job_id: str, console: Console) -> int:
    """Cancel the job and say where it stands: canceled, or stopping."""
    await api.call("POST", f"/api/job/{job_id}/cancel")
    job = await api.call("GET", f"/api/job/{job_id}")
    if job["status"] == JobStatus.CANCELED:
        console.print(f"job {job_id} canceled")
    else:
        console.print(f"job {job_id} {status_name(job['status'])}: asked to stop")
    return 0


async def rerun(api: Api, job_id: str, how: str, watch: bool, console: Console) -> int:
    """`retry` (the same job, again) or `replay` (a new job): its id, or with `watch` the
    job followed to its end."""
    job = await api.call("POST", f"/api/job/{job_id}/{how}")
    if not watch:
        print(job["id"])
        return 0
    again = "queued again" if how == "retry" else "created"
    console.print(f"job {job['id']} {again}: {type_name(job['type'])} {job['job_title']}")
    return await Watcher(api, str(job["id"]), console).run()


async def remove(api: Api, job_id: str, purge: bool, console: Console) -> int:
    """Delete the job (hidden, its history kept) or, with `purge`, erase it."""
    params = {"purge": "true"} if purge else None
    answer = await api.call("DELETE", f"/api/job/{job_id}", params=params)
    if not purge:
        console.print(f"job {job_id} deleted (its history stays in the log)")
        return 0
    jobs, events = len(answer["job_ids"]), answer["events_erased"]
    console.print(
        f"job {job_id} purged: {jobs} job{'' if jobs == 1 else 's'}, {events} events and"
        f" {answer['results_erased']} result bodies erased"
    )
    return 0
