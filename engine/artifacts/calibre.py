"""Conversions from epub through Calibre's ``ebook-convert``, run as a child process.

The converter runs in its own process group (``ebook-convert`` starts helper processes, and
PDF output a Qt WebEngine renderer), so a timeout or a cancel kills the whole group. Its
temporary files go to a directory of ours, removed afterwards even when it was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.artifacts.errors import (
    BuildCanceled,
    ConversionFailed,
    ConversionTimedOut,
    ConverterMissing,
)

EXECUTABLE = "ebook-convert"
DEFAULT_TIMEOUT = 600.0
TAIL_LINES = 30
_TAIL_BYTES = 16 * 1024

# Output options per format, beyond Calibre's defaults. PalmDOC defaults to cp1252, which
# loses every character outside it; Calibre reads UTF-8 PalmDOC back fine.
_OPTIONS: dict[str, tuple[str, ...]] = {
    "pdf": ("--paper-size", "a5", "--pdf-page-numbers"),
    "pdb": ("--pdb-output-encoding", "utf-8"),
}


def available(executable: str = EXECUTABLE) -> bool:
    """Whether `executable` (Calibre's ``ebook-convert``) is installed and on ``PATH``."""
    return shutil.which(executable) is not None


async def version(*, executable: str = EXECUTABLE, timeout: float = 60.0) -> str:
    """The converter's version line, e.g. ``ebook-convert (calibre 6.13.0)``."""
    output = await run_tool([executable, "--version"], env=_environment(), timeout=timeout)
    return output.strip().splitlines()[0] if output.strip() else ""


async def convert(
    source: Path,
    target: Path,
    *,
    title: str = "",
    authors: Sequence[str] = (),
    cancel: asyncio.Event | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    executable: str = EXECUTABLE,
) -> Path:
    """Convert the e-book `source` to `target`; the output format is `target`'s extension.

    `title` and `authors` are the book's, for a format whose writer needs them restated:
    Calibre 6.13's RB writer sizes its metadata record in characters but writes it as
    UTF-8, so non-ASCII metadata corrupts the file; rb gets them folded to ASCII.

    Raises ConverterMissing when `executable` is not installed, ConversionFailed (with the
    tail of the converter's output) when it fails or writes nothing, ConversionTimedOut
    after `timeout` seconds and BuildCanceled once `cancel` is set; the latter two kill the
    converter's process group first. Cancelling the calling task kills it too.
    """
    fmt = target.suffix.lstrip(".").lower()
    args = [executable, str(source), str(target), *_OPTIONS.get(fmt, ())]
    if fmt == "rb":
        args += _ascii_metadata(title, authors)
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="calibre-", dir=target.parent) as scratch:
        env = _environment(CALIBRE_TEMP_DIR=scratch)
        output = await run_tool(args, env=env, cancel=cancel, timeout=timeout)
    if not target.is_file() or target.stat().st_size == 0:
        raise ConversionFailed(f"{executable} wrote no {fmt} file", output=output, returncode=0)
    return target


async def run_tool(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cancel: asyncio.Event | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Run `args` in a new process group and return the tail of its output (stdout and
    stderr together, the last :data:`TAIL_LINES` lines). A non-zero exit raises
    ConversionFailed; a timeout, a set `cancel` or a cancelled caller kill the group, then
    raise ConversionTimedOut, BuildCanceled or CancelledError. Helpers the process left
    running in its group are killed when it exits."""
    proc = await _start(args, env)
    tail = bytearray()
    try:
        async with asyncio.timeout(timeout):
            await _until_exit(proc, tail, cancel)
    except TimeoutError as e:
        message = f"{args[0]} ran past {timeout:g} s"
        raise ConversionTimedOut(message, output=_lines(tail), returncode=None) from e
    finally:
        await _kill_group(proc)
    if proc.returncode != 0:
        message = f"{args[0]} exited with status {proc.returncode}"
        raise ConversionFailed(message, output=_lines(tail), returncode=proc.returncode)
    return _lines(tail)


async def _start(args: Sequence[str], env: Mapping[str, str]) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as e:
        raise ConverterMissing(f"{args[0]} is not installed (install Calibre)") from e


async def _until_exit(
    proc: asyncio.subprocess.Process, tail: bytearray, cancel: asyncio.Event | None
) -> None:
    """Wait for the process to exit and its output to end, or for `cancel` to be set."""
    if cancel is None:
        await _drain_and_wait(proc, tail)
        return
    exited = asyncio.ensure_future(_drain_and_wait(proc, tail))
    canceled = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait((exited, canceled), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (exited, canceled):
            task.cancel()
        await asyncio.gather(exited, canceled, return_exceptions=True)
    if exited.done() and not exited.cancelled():
        exited.result()  # the process ended first: re-raise what reading it raised, if any
        return
    raise BuildCanceled("the conversion was canceled")


async def _drain_and_wait(proc: asyncio.subprocess.Process, tail: bytearray) -> None:
    # Read in chunks, not lines: a converter may print a long line without a newline.
    assert proc.stdout is not None  # set by _start's PIPE
    while chunk := await proc.stdout.read(65536):
        tail += chunk
        del tail[:-_TAIL_BYTES]
    await proc.wait()


def _lines(tail: bytearray) -> str:
    lines = tail.decode("utf-8", "replace").splitlines()
    return "\n".join(line.rstrip() for line in lines[-TAIL_LINES:])


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill whatever is left in the process's group (the process itself while it runs, and
    helpers it started) and reap the process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await asyncio.shield(proc.wait())


def _ascii_metadata(title: str, authors: Sequence[str]) -> list[str]:
    names = [name for name in (_ascii(author) for author in authors) if name]
    return ["--title", _ascii(title) or "Untitled", "--authors", " & ".join(names) or "Unknown"]


def _ascii(text: str) -> str:
    # Accents dropped (Ç to C); letters with no ASCII base dropped.
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(folded.replace("&", "and").split())


def _environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **extra}
    if os.geteuid() == 0:
        # Qt WebEngine (PDF output) refuses to start its sandbox as root.
        env.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox")
    return env
