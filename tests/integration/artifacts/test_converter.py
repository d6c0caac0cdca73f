"""The converter process: its output tail on failure, and its whole process group killed on
timeout, on the cancel event and when the caller is cancelled; the same with real Calibre."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from engine.artifacts import calibre, formats
from engine.artifacts.epub import write_epub
from engine.artifacts.errors import (
    BuildCanceled,
    ConversionFailed,
    ConversionTimedOut,
    ConverterMissing,
)
from tests.integration.artifacts.tools import needs_calibre
from tests.support import wait_until
from tests.unit.artifacts.books import sample_book

# A shell that starts a helper in its own group, writes the helper's pid, and waits forever.
FOREVER = 'sleep 1000 & echo $! > "$1"; wait'


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie has ended: nothing may reap it in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def pids_running(text: str) -> list[int]:
    """Live processes whose command line mentions `text`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes() and alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


async def helper_pid(pid_file: Path) -> int:
    await wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    return int(pid_file.read_text())


async def test_a_timeout_kills_the_process_and_its_helpers(tmp_path: Path) -> None:
    pid_file = tmp_path / "helper.pid"
    args = ["sh", "-c", FOREVER, "sh", str(pid_file)]
    with pytest.raises(ConversionTimedOut) as caught:
        await calibre.run_tool(args, env=dict(os.environ), timeout=1.0)
    assert caught.value.returncode is None
    helper = await helper_pid(pid_file)
    await wait_until(lambda: not alive(helper))


async def test_the_cancel_event_kills_the_process_and_its_helpers(tmp_path: Path) -> None:
    pid_file, cancel = tmp_path / "helper.pid", asyncio.Event()
    args = ["sh", "-c", FOREVER, "sh", str(pid_file)]
    run = asyncio.create_task(calibre.run_tool(args, env=dict(os.environ), cancel=cancel))
    helper = await helper_pid(pid_file)
    cancel.set()
    with pytest.raises(BuildCanceled):
        await run
    await wait_until(lambda: not alive(helper))


async def test_cancelling_the_caller_kills_the_process_and_its_helpers(tmp_path: Path) -> None:
    pid_file = tmp_path / "helper.pid"
    args = ["sh", "-c", FOREVER, "sh", str(pid_file)]
    run = asyncio.create_task(calibre.run_tool(args, env=dict(os.environ)))
    helper = await helper_pid(pid_file)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await wait_until(lambda: not alive(helper))


async def test_a_failure_carries_the_tail_of_the_output() -> None:
    script = "for i in $(seq 1 100); do echo line$i; done; echo boom >&2; exit 3"
    with pytest.raises(ConversionFailed) as caught:
        await calibre.run_tool(["sh", "-c", script], env=dict(os.environ))
    lines = caught.value.output.splitlines()
    assert caught.value.returncode == 3
    assert lines[-1] == "boom"
    assert len(lines) == calibre.TAIL_LINES
    assert lines[0] == f"line{100 - calibre.TAIL_LINES + 2}"
    assert "boom" in str(caught.value)


async def test_output_without_newlines_is_read_to_the_end() -> None:
    script = "head -c 300000 /dev/zero | tr '\\0' x; echo; echo done"
    output = await calibre.run_tool(["sh", "-c", script], env=dict(os.environ))
    assert output.splitlines()[-1] == "done"


async def test_a_missing_converter_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConverterMissing, match="no-such-ebook-convert"):
        await calibre.convert(
            tmp_path / "in.epub", tmp_path / "out.pdf", executable="no-such-ebook-convert"
        )


@needs_calibre
async def test_calibre_names_its_version() -> None:
    assert "calibre" in await calibre.version()


@needs_calibre
async def test_a_failed_conversion_leaves_no_file_behind(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.epub"
    corrupt.write_bytes(b"this is not a zip file")
    with pytest.raises(ConversionFailed) as caught:
        await formats.build(sample_book(), "mobi", tmp_path, epub=corrupt)
    assert caught.value.returncode not in (0, None)
    assert caught.value.output.strip() != ""
    assert [p.name for p in tmp_path.iterdir()] == ["corrupt.epub"]


@needs_calibre
async def test_a_canceled_conversion_kills_calibre_and_leaves_no_file(tmp_path: Path) -> None:
    book = sample_book()
    epub = write_epub(book, tmp_path / "source.epub")
    out, cancel = tmp_path / "out", asyncio.Event()
    out.mkdir()
    build = asyncio.create_task(formats.build(book, "pdf", out, epub=epub, cancel=cancel))
    await wait_until(lambda: pids_running(str(out)) != [], timeout=60)
    pgid = os.getpgid(pids_running(str(out))[0])
    # PDF output renders in Qt WebEngine helper processes: cancel once they run too.
    await wait_until(lambda: len(group_members(pgid)) > 1, timeout=60)
    cancel.set()
    with pytest.raises(BuildCanceled):
        await build
    await wait_until(lambda: group_members(pgid) == [])
    assert list(out.iterdir()) == []
