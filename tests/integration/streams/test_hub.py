"""The hub and a job feed against a real nats-server: fan-out, slow readers, resume by id."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS

from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope, event_envelope
from engine.domain.events import Codec, LogWritten
from engine.domain.model import JobType
from engine.jetstream.store import EventStore
from engine.service import JobService, new_id
from streams.feed import JobFeed
from streams.frames import Frame
from streams.hub import Hub
from tests.support import wait_until


async def _job(store: EventStore, hub: Hub) -> str:
    """A new job, created while the hub has no reader (it follows from a first reader on)."""
    job_id = new_id()
    create = CreateJob(
        **command_envelope(job_id, "tester"), user_id="u1", type=int(JobType.SCRAPE), priority=1
    )
    await JobService(store).execute(create)
    assert not hub.following
    return job_id


async def _logs(store: EventStore, job_id: str, n: int) -> list[int]:
    seqs = []
    for i in range(n):
        event = LogWritten(**event_envelope(job_id, "w"), message=f"line {i}")
        seqs.append(await store.append_unchecked(event))
    return seqs


def _snapshot(state: Any) -> dict[str, Any]:
    return {"id": state.id}


async def _frames(feed: JobFeed, job_id: str, last_id: int | None) -> AsyncGenerator[Frame, None]:
    """The job's stream as frames, parsed back from the bytes a client would get."""
    async with contextlib.aclosing(feed.stream(job_id, last_id, _snapshot)) as chunks:
        async for chunk in chunks:
            for block in chunk.split(b"\r\n\r\n"):
                if block:
                    fields = dict(line.split(b": ", 1) for line in block.split(b"\r\n"))
                    yield Frame(
                        id=int(fields[b"id"]), event=fields[b"event"].decode(),
                        data=msgspec.json.decode(fields[b"data"]),
                    )  # fmt: skip


async def _take(frames: AsyncIterator[Frame], n: int) -> list[Frame]:
    return [await anext(frames) for _ in range(n)]


async def test_a_slow_reader_is_dropped_with_where_to_resume_and_resumes_exactly(
    nc: NATS,
) -> None:
    store = EventStore(nc, Codec())
    await store.ensure()
    hub = Hub(nc, store.codec, max_pending=3)
    await hub.start()
    try:
        feed = JobFeed(store, hub, max_pending=3)
        job_id = await _job(store, hub)
        frames = _frames(feed, job_id, None)
        assert (await anext(frames)).event == "snapshot"
        seqs = await _logs(store, job_id, 10)  # the reader does not read meanwhile
        await wait_until(lambda: hub.position >= seqs[-1])
        got = await _take(frames, 4)
        assert [f.event for f in got] == ["log", "log", "log", "error"]
        assert [f.id for f in got[:3]] == seqs[:3]
        assert got[3].data["resume"] == seqs[2] and "too slow" in got[3].data["reason"]
        with pytest.raises(StopAsyncIteration):
            await anext(frames)
        resumed = _frames(feed, job_id, got[3].data["resume"])
        rest = await _take(resumed, 7)
        assert [(f.event, f.id) for f in rest] == [("log", s) for s in seqs[3:]]
        assert [f.data["message"] for f in rest] == [f"line {i}" for i in range(3, 10)]
        await resumed.aclose()
        assert hub.reader_count == 0
    finally:
        await hub.stop()


async def test_one_event_reaches_every_reader_of_its_job_and_no_other(nc: NATS) -> None:
    store = EventStore(nc, Codec())
    await store.ensure()
    hub = Hub(nc, store.codec)
    await hub.start()
    try:
        feed = JobFeed(store, hub)
        job_a, job_b = await _job(store, hub), await _job(store, hub)
        readers_a = [_frames(feed, job_a, None) for _ in range(50)]
        reader_b = _frames(feed, job_b, None)
        for r in [*readers_a, reader_b]:
            assert (await anext(r)).event == "snapshot"
        (seq,) = await _logs(store, job_a, 1)
        for r in readers_a:
            frame = await anext(r)
            assert (frame.event, frame.id) == ("log", seq)
        (seq_b,) = await _logs(store, job_b, 1)
        assert (await anext(reader_b)).id == seq_b  # job A's event never reached B's reader
        for r in [*readers_a, reader_b]:
            await r.aclose()
    finally:
        await hub.stop()


async def test_the_hub_follows_the_log_only_while_someone_reads(nc: NATS) -> None:
    """No reader, no subscription; the first reader's `follow()` starts one from the log's
    tail, which hands it every later event; the last reader gone, it stops after `idle_s`;
    a new reader starts it again from the tail."""
    store = EventStore(nc, Codec())
    await store.ensure()
    hub = Hub(nc, store.codec, idle_s=0.05)
    await hub.start()
    try:
        job_id = await _job(store, hub)
        (before,) = await _logs(store, job_id, 1)
        assert not hub.following
        with hub.reader() as reader:
            assert await hub.follow() == before  # the tail: what a catch-up reads up to
            (seq,) = await _logs(store, job_id, 1)
            item = await reader.next(5)
            assert item is not None and item[0] == seq
        assert hub.following  # for idle_s more
        await wait_until(lambda: not hub.following)
        (missed,) = await _logs(store, job_id, 1)  # nobody follows: nobody is sent it
        feed = JobFeed(store, hub)
        frames = _frames(feed, job_id, seq)  # resumes after `seq`: `missed` from the log
        assert [(f.event, f.id) for f in await _take(frames, 1)] == [("log", missed)]
        assert hub.following and hub.position == missed
        (live,) = await _logs(store, job_id, 1)
        assert [(f.event, f.id) for f in await _take(frames, 1)] == [("log", live)]
        await frames.aclose()
    finally:
        await hub.stop()
    assert not hub.following
