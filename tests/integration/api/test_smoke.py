from __future__ import annotations

from tests.support import Service


async def test_create_then_read_your_write(service: Service) -> None:
    body = {"url": "https://example.com/n.html", "source": "novelfull"}
    status, job = await service.admin.call("POST", "/api/job/create/fetch-novel", json=body)
    assert status == 201, job
    status, got = await service.admin.call("GET", f"/api/job/{job['id']}")
    assert status == 200
    assert got == job
