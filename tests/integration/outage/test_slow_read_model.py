"""A create whose event was appended is never answered with an error: when the read model
does not show the job in time, the answer is the job as appended, saying so."""

from __future__ import annotations

from engine.domain.model import JobStatus
from tests.integration.api.helpers import NOVEL, SOURCE, engine
from tests.support import Service


async def test_a_create_the_read_model_does_not_show_in_time(service: Service) -> None:
    runtime = service.runtime
    await runtime.projector.stop()  # the read model stands still: as slow as it gets
    runtime.jobs.read_wait_s = 0.2
    body = {"url": "https://example.com/slow.html", "source": SOURCE}
    key = {"Idempotency-Key": "slow-1"}
    status, job = await service.admin.call("POST", NOVEL, json=body, headers=key)
    assert status == 201, job
    assert job["read_model_behind"] is True
    assert job["status"] == JobStatus.PENDING and job["job_title"] == body["url"]
    state = await engine(service).store.load(job["id"])
    assert state is not None and state.title == body["url"]  # appended: it exists

    # The client's retry with the same key: the same job, still said to be ahead of reads.
    status, again = await service.admin.call("POST", NOVEL, json=body, headers=key)
    assert status == 201, again
    assert again["id"] == job["id"] and again["read_model_behind"] is True


async def test_a_create_the_read_model_shows_says_nothing_of_it(service: Service) -> None:
    body = {"url": "https://example.com/quick.html", "source": SOURCE}
    status, job = await service.admin.call("POST", NOVEL, json=body)
    assert status == 201, job
    assert "read_model_behind" not in job


async def test_health_is_503_while_the_read_model_stands_still(service: Service) -> None:
    async def health(path: str) -> tuple[int, dict[str, object]]:
        async with service.admin.session.get(service.admin.base + path) as resp:
            return resp.status, await resp.json()

    status, body = await health("/health/ready")
    assert status == 200 and body["can_append"] is True and body["lag_events"] == 0, body
    await service.runtime.projector.stop()
    body_of_create = {"url": "https://example.com/unread.html", "source": SOURCE}
    service.runtime.jobs.read_wait_s = 0.1
    status, job = await service.admin.call("POST", NOVEL, json=body_of_create)
    assert status == 201 and job["read_model_behind"] is True, job
    for path in ("/health", "/health/ready"):
        status, body = await health(path)
        assert status == 503 and body["projector"] is False and body["lag_events"] >= 1, body
        assert body["can_append"] is True  # the node could write: its reads are the problem
    assert await health("/health/live") == (200, {"status": "ok"})
