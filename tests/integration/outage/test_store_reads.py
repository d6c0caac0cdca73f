"""A read of the log that gets no answer is an outage, never "no events": with no server
answering for the JOBS stream (here: the stream is gone, so nobody answers its subjects),
loads and histories raise StoreUnavailable, appends too (not nats-py's own errors), and the
API answers commands with 503 and Retry-After, never 404 or 500."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS

from engine.domain.envelope import new_id
from engine.domain.events import Codec
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.store import JOBS_STREAM, EventStore, direct_batch
from tests.integration.api.helpers import NOVEL, SOURCE
from tests.support import Service


async def test_a_direct_get_nobody_answers_is_an_outage(nc: NATS) -> None:
    with pytest.raises(StoreUnavailable, match="503"):
        await direct_batch(nc, "NO_SUCH_STREAM", "x.>", 1, timeout=2)


async def test_loads_and_appends_without_the_stream_raise_store_unavailable(nc: NATS) -> None:
    store = EventStore(nc, Codec(), timeout=2, settle_s=0)
    await store.ensure()
    await nc.jetstream().delete_stream(JOBS_STREAM)
    job_id = new_id()
    with pytest.raises(StoreUnavailable):
        await store.load(job_id)
    with pytest.raises(StoreUnavailable):
        await store.history(job_id)
    with pytest.raises(StoreUnavailable):
        await store.created(job_id)


async def test_commands_during_an_outage_answer_503_never_404_or_500(service: Service) -> None:
    body = {"url": "https://example.com/a.html", "source": SOURCE}
    status, job = await service.admin.call("POST", NOVEL, json=body)
    assert status == 201, job
    await service.runtime.nc.jetstream().delete_stream(JOBS_STREAM)
    for method, path, data in [
        ("POST", NOVEL, body),
        ("POST", f"/api/job/{job['id']}/cancel", None),
        ("POST", f"/api/job/{job['id']}/retry", None),
        ("DELETE", f"/api/job/{job['id']}", None),
    ]:
        async with service.admin.session.request(
            method, service.admin.base + path, json=data,
            headers={"Authorization": f"Bearer {service.admin.token}"},
        ) as resp:  # fmt: skip
            answer = await resp.json()
            assert resp.status == 503, (method, path, answer)
            assert int(resp.headers["Retry-After"]) > 0
            assert answer["status_code"] == 503 and answer["detail"], answer
