"""Atomic batches staged in memory by the embedded server (single node, file streams).

Before it commits an atomic batch, a single-replica file stream stages the batch in a small
file store of its own, `<store>/jetstream/<account>/streams/<stream>/batches/<id>`: a
directory made, two metadata files written synced, the staged block synced, then all of it
removed. On the 2-core development machine that is about 2 ms and five disk syncs a batch,
whatever it holds, and the stream takes no other write meanwhile: at most ~450 batches a
second per stream, however many are in flight (docs/decisions.md, "Atomic batches staged in
memory"). A replicated stream stages in memory instead.

What is staged is not what is stored: the commit writes the batch into the stream's own
blocks and syncs them before it acknowledges, and a server that starts deletes whatever
staging it finds. So staging on a memory file system changes nothing that is kept, and this
module makes each stream's `batches` a symbolic link to a directory of its own in memory
(`/dev/shm`): for the streams there are once the server listens, and for each stream created
later, as the server announces it (a JetStream advisory). The server makes `batches` only
when a stream's first batch comes, and deletes it when it starts, so a link made then is the
one it uses.

When staging cannot be made there (the memory directory gone, or full), the server refuses
the batch as incomplete and stores none of it; every writer then publishes one by one, or
answers that the store is unavailable, as on any refused batch. The links are checked every
`REPAIR_S` and a missing directory made again, in case a cleaner (systemd's `RemoveIPC`)
empties `/dev/shm`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

log = logging.getLogger(__name__)

MEMORY_ROOT = Path("/dev/shm")
MIN_FREE_BYTES = 64 * 1024 * 1024  # below this free, staging stays on disk
_MB = f"{MIN_FREE_BYTES >> 20} MB"
REPAIR_S = 1.0
PREFIX = "jobstream-batches-"
RECORD = "batch-staging"  # in the store dir: where this server's staging is (for a later cleanup)
_CREATED = "$JS.EVENT.ADVISORY.STREAM.CREATED.*"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")  # what a stream directory may be called
_ACCOUNT = re.compile(r"^\$?[A-Za-z0-9_-]{1,255}$")  # and an account's ($G: no accounts set up)


class Staging:
    """One server's staging directory in memory, and the links of its store's streams to it."""

    def __init__(self, store_dir: Path, staging: Path) -> None:
        self.store_dir = store_dir
        self.staging = staging
        self._refused: set[Path] = set()  # streams whose link failed (said once, not every second)

    @classmethod
    def create(cls, store_dir: Path, root: Path) -> Staging | None:
        """A new private directory under `root` for the server storing in `store_dir`,
        recorded there (the one recorded before, left by a killed process, is removed); None
        when `root` is not a directory with MIN_FREE_BYTES free."""
        _remove_recorded(store_dir, root)
        try:
            stats = os.statvfs(root)
            if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
                log.debug("no batch staging in %s: under %s free", root, _MB)
                return None
            staging = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
        except OSError as e:
            log.debug("no batch staging in %s: %s", root, e)
            return None
        try:
            (store_dir / RECORD).write_text(str(staging))
        except OSError as e:  # could not be found again after a kill: not made at all
            log.debug("no batch staging in %s: %s", root, e)
            shutil.rmtree(staging, ignore_errors=True)
            return None
        return cls(store_dir, staging)

    def remove(self) -> None:
        """Remove the staging directory and its record (once the server stopped)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.store_dir / RECORD).unlink()

    def link_all(self) -> int:
        """Link every stream there is, and make missing staging directories again; how
        many streams stage in memory."""
        return sum(self._link(d) for d in stream_dirs(self.store_dir))

    def on_created(self, name: str) -> bool:
        """Link the stream `name` the server just created (in whichever account has it)."""
        found = [d for d in stream_dirs(self.store_dir) if d.name == name]
        return any([self._link(d) for d in found])

    def _link(self, stream_dir: Path) -> bool:
        try:
            return link(stream_dir, self.staging)
        except OSError as e:  # that stream stages on disk
            if stream_dir not in self._refused:
                self._refused.add(stream_dir)
                log.warning("batch staging: cannot link %s: %s", stream_dir / "batches", e)
            return False

    async def follow(self, nc: NATS) -> None:
        """Link streams as the server announces them, and repair the links every REPAIR_S,
        until cancelled."""

        async def created(msg: Msg) -> None:
            self.on_created(msg.subject.rsplit(".", 1)[-1])

        sub = await nc.subscribe(_CREATED, cb=created)
        try:
            while True:
                await asyncio.sleep(REPAIR_S)  # a cleaner gives no notice: look again
                try:
                    self.link_all()
                except OSError as e:  # a stream removed while listed, say: next time
                    log.debug("batch staging: %s", e)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def _remove_recorded(store_dir: Path, root: Path) -> None:
    """Remove the staging directory a killed process left (as recorded in `store_dir`)."""
    record = store_dir / RECORD
    with contextlib.suppress(OSError):
        old = Path(record.read_text().strip())
        if old.parent == root and old.name.startswith(PREFIX) and old.stat().st_uid == os.getuid():
            shutil.rmtree(old, ignore_errors=True)
        record.unlink()


def stream_dirs(store_dir: Path) -> Iterator[Path]:
    """The directories of the streams the server keeps under `store_dir`."""
    for accounts in (store_dir / "jetstream").glob("*/streams"):
        if _ACCOUNT.match(accounts.parent.name):
            yield from (d for d in accounts.iterdir() if d.is_dir() and _NAME.match(d.name))


def link(stream_dir: Path, staging: Path) -> bool:
    """Make `stream_dir/batches` a link to its directory under `staging` (made again if
    missing); whether it is one now. A `batches` the server made first is left as it is.
    OSError when the file system refuses (permissions, no space)."""
    target = staging / stream_dir.parent.parent.name / stream_dir.name
    batches = stream_dir / "batches"
    try:
        target.mkdir(parents=True, exist_ok=True)
        if not batches.is_symlink():
            batches.symlink_to(target, target_is_directory=True)
    except (FileExistsError, FileNotFoundError):  # the server made it first; the stream is gone
        return False
    return batches.resolve() == target.resolve()
