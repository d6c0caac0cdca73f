"""Atomic batches staged in memory by the embedded server (engine/jetstream/staging.py), on a
real nats-server: each stream's `batches` links into the staging directory (streams there
at start and streams made later), the server stages there (a broken link refuses batches,
and is repaired), nothing acknowledged is lost to a kill, and no staging is left behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StreamConfig

from engine.jetstream.atomic import BatchRefused, publish_atomic
from engine.jetstream.embedded import default_conf, embedded_nats
from engine.jetstream.staging import PREFIX, RECORD, Staging, stream_dirs
from engine.jetstream.store import wait_for_jetstream
from tests.support import free_port, nats_pids, wait_until

BATCH_INCOMPLETE = 10176  # the server could not stage the batch: nothing of it is stored


def batches(store: Path, stream: str) -> Path:
    return store / "jetstream" / "$G" / "streams" / stream / "batches"


def staged_in(root: Path) -> list[Path]:
    return sorted(root.glob(f"{PREFIX}*"))


async def make_stream(nc: NATS, name: str) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"], allow_atomic=True))


async def batch(nc: NATS, stream: str, tag: str, size: int = 3) -> int:
    subject = stream.lower()
    messages = [(f"{subject}.{tag}.{i}", f"{tag}-{i}".encode(), None) for i in range(size)]
    return await publish_atomic(nc, messages, 5.0)


async def test_streams_made_later_stage_in_memory_and_lose_nothing_to_a_kill(
    tmp_path: Path,
) -> None:
    store, root = tmp_path / "nats", tmp_path / "memory"
    root.mkdir()
    port = free_port()
    async with embedded_nats(store, port, default_conf(), memory_root=root) as url:
        (staging,) = staged_in(root)
        assert (store / RECORD).read_text() == str(staging)
        nc = await wait_for_jetstream(url)
        await make_stream(nc, "EVENTS")
        link = batches(store, "EVENTS")
        await wait_until(link.is_symlink)  # the server's advisory reached the stager
        assert link.resolve() == (staging / "$G" / "EVENTS").resolve()
        last = 0
        for i in range(20):
            last = await batch(nc, "EVENTS", f"b{i}")
        assert last == 60
        await nc.close()
        (server,) = nats_pids(store)
        os.kill(server, signal.SIGKILL)  # no shutdown: only what was synced survives
    assert staged_in(root) == []  # removed once the server was gone
    assert not (store / RECORD).exists()

    async with embedded_nats(store, free_port(), default_conf(), memory_root=root) as url:
        assert batches(store, "EVENTS").is_symlink()  # linked again before anyone connects
        nc = await wait_for_jetstream(url)
        info = await nc.jetstream().stream_info("EVENTS")
        assert info.state.messages == 60
        assert await batch(nc, "EVENTS", "after") == 63
        await nc.close()


async def test_the_server_stages_through_the_link_and_a_broken_one_is_repaired(
    tmp_path: Path,
) -> None:
    """A server staging on disk, and a Staging linked by hand: a link to nowhere makes the
    server refuse batches whole, and `link_all` (what the stager runs every second) makes
    them work again."""
    store, root = tmp_path / "nats", tmp_path / "memory"
    root.mkdir()
    async with embedded_nats(store, free_port(), default_conf(), memory_root=None) as url:
        nc = await wait_for_jetstream(url)
        await make_stream(nc, "PROBE")
        stager = Staging.create(store, root)
        assert stager is not None
        assert stager.link_all() == 1
        probe = batches(store, "PROBE")
        assert probe.is_symlink()
        assert await batch(nc, "PROBE", "linked") == 3

        target = probe.resolve()
        target.rmdir()  # as a cleaner emptying /dev/shm would
        with pytest.raises(BatchRefused) as refused:
            await batch(nc, "PROBE", "broken")
        assert refused.value.code == BATCH_INCOMPLETE
        assert (await nc.jetstream().stream_info("PROBE")).state.messages == 3  # none of it

        assert stager.link_all() == 1
        assert target.is_dir()
        assert await batch(nc, "PROBE", "repaired") == 6
        await nc.close()
        stager.remove()
    assert staged_in(root) == []


async def test_a_killed_process_leaves_no_staging_and_no_root_means_disk(tmp_path: Path) -> None:
    store, root = tmp_path / "nats", tmp_path / "memory"
    store.mkdir()
    root.mkdir()
    left = root / f"{PREFIX}left"
    (left / "$G" / "JOBS").mkdir(parents=True)
    (store / RECORD).write_text(str(left))  # what a killed process leaves
    async with embedded_nats(store, free_port(), default_conf(), memory_root=root):
        assert not left.exists()
        assert len(staged_in(root)) == 1
    async with embedded_nats(store, free_port(), default_conf(), memory_root=None) as url:
        nc = await wait_for_jetstream(url)
        await make_stream(nc, "DISK")
        assert await batch(nc, "DISK", "a") == 3
        assert not batches(store, "DISK").is_symlink()  # the server's own directory
        await nc.close()
    assert staged_in(root) == []
    assert [d.name for d in stream_dirs(store)] == ["DISK"]
