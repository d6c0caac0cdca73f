"""The installed `jobstream` command run under a pseudo-terminal, as a person runs it.

Its stdin and stdout are the terminal (so rich draws for a terminal of `columns` columns);
stderr stays a pipe, so that a test can hold an error to being one line.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import struct
import termios

from tests.support import JOBSTREAM

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Ran:
    def __init__(self, code: int, screen: str, err: str) -> None:
        self.code = code
        self.screen = screen  # what the terminal showed, escapes and carriage returns removed
        self.err = err
        self.lines = [line for line in screen.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- terminal\n{self.screen}--- stderr\n{self.err}"


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed its side of the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def run_pty(*args: str, env: dict[str, str], columns: int = 120, timeout: float = 60) -> Ran:
    """`jobstream *args` under a terminal `columns` wide, run to its end."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    try:
        proc = await asyncio.create_subprocess_exec(
            JOBSTREAM, *args, env=env | {"TERM": "xterm-256color", "COLUMNS": str(columns)},
            stdin=side, stdout=side, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(side)
    reading = asyncio.create_task(asyncio.to_thread(_read_all, main))
    try:
        async with asyncio.timeout(timeout):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()  # its end of the terminal closes: the reader sees the end too
        await proc.wait()
        raise
    finally:
        screen = await reading
        os.close(main)
    assert proc.returncode is not None
    return Ran(proc.returncode, _ESCAPES.sub("", screen.decode(errors="replace")), err.decode())
