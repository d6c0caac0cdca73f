"""What the dispatcher reads when a job ends: only what that end can change."""

from __future__ import annotations

from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue
from ulid import ULID

from engine.dispatcher import Dispatcher, open_dependents
from engine.domain.events import Codec, JobSucceeded
from engine.jetstream.kv import open_bucket
from engine.jetstream.store import EventStore, Stored
from engine.service import JobService
from tests.integration.api.helpers import SCRAPE, create, finish, log_of, start
from tests.support import Service


async def test_the_end_of_a_job_nothing_waits_on_reads_only_its_created_event(
    service: Service,
) -> None:
    job = await create(service.admin, SCRAPE, urls=["http://127.0.0.1:9/never"])
    await start(service, job["id"])
    await finish(service, job["id"], ok=True)
    [*_, ended] = await log_of(service, job["id"])
    nc = service.runtime.nc
    store = EventStore(nc, Codec())
    histories: list[str] = []
    history = store.history

    async def counted(job_id: str, from_seq: int = 1) -> list[Stored]:
        histories.append(job_id)
        return await history(job_id, from_seq)

    store.history = counted  # type: ignore[method-assign]
    dispatcher = Dispatcher(nc, JobService(store), await open_dependents(nc))
    await dispatcher.react(ended.seq, ended.event)
    assert histories == []  # no parent, no children, no dependents: nothing to fold


async def test_ends_in_one_batch_read_their_dependents_in_one_request(service: Service) -> None:
    """Several ends read ahead: each job's dependents, a deleted key's as none, with one
    request to the bucket's stream, not one KV get each."""
    nc = service.runtime.nc
    deps = await open_dependents(nc)
    ids = [str(ULID()) for _ in range(4)]
    await deps.put(ids[0], msgspec.json.encode([ids[3]]))
    await deps.put(ids[1], msgspec.json.encode([ids[2], ids[3]]))
    await deps.put(ids[2], msgspec.json.encode([ids[3]]))
    await deps.delete(ids[2])
    store = EventStore(nc, Codec())
    dispatcher = Dispatcher(nc, JobService(store), deps)
    gets = 0
    get = deps.get

    async def counted(key: str, revision: int | None = None) -> KeyValue.Entry:
        nonlocal gets
        gets += 1
        return await get(key, revision)

    deps.get = counted  # type: ignore[method-assign]
    requests = 0
    publish = nc.publish

    async def counted_publish(subject: str, *args: Any, **kwargs: Any) -> None:
        nonlocal requests
        requests += subject == "$JS.API.DIRECT.GET.KV_dependents"
        await publish(subject, *args, **kwargs)

    nc.publish = counted_publish  # type: ignore[method-assign]
    try:
        env = {"actor": "test", "at": 0}
        await dispatcher.read_ahead(
            [JobSucceeded(event_id=str(ULID()), job_id=i, **env) for i in ids]  # type: ignore[arg-type]
        )
        found = [await dispatcher._dependents(i) for i in ids]
    finally:
        nc.publish = publish  # type: ignore[method-assign]
    assert found == [[ids[3]], [ids[2], ids[3]], [], []]
    assert (requests, gets) == (1, 0)


async def test_a_bucket_made_before_batched_reads_is_given_direct_gets(nc: NATS) -> None:
    js = nc.jetstream()
    await open_bucket(js, "dependents", history=1)  # as an older version made it
    assert not (await js.stream_info("KV_dependents")).config.allow_direct
    await open_dependents(nc)
    assert (await js.stream_info("KV_dependents")).config.allow_direct
