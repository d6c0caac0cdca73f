"""`jobstream submit --watch` of a job that fetched nothing: exit 1, the cause on the last line."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.settings import Settings
from tests.sites.testsite import SiteHandle
from tests.support import Service, cli_env, finished, run_cli, run_service


@pytest.fixture
async def guarded(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """The service with one in-process worker and the private-network guard on."""
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, workers=1, allow_private_networks=False
    )
    async with run_service(settings) as svc:
        yield svc


async def test_watching_a_crawl_the_guard_refused_exits_1_with_the_cause(
    guarded: Service, site: SiteHandle
) -> None:
    admin = guarded.admin
    code, out, err = await run_cli(
        "submit", "crawl", site.base_url, "--watch",
        "--url", admin.base, "--token", str(admin.token), env=cli_env(),
    )  # fmt: skip
    lines = out.strip().splitlines()
    assert code == 1 and lines, (code, out, err)
    created = re.match(r"job (\S+) created: ", lines[0])
    assert created, out
    job = await finished(admin, created.group(1))
    assert job["status"] == 3 and "--allow-private-networks" in job["error"], job
    final = (
        re.escape(f"✗ job {job['id']} failed: {job['error']} (0 ok, 1 failed in ") + r"\d+\.\d s\)"
    )
    assert re.fullmatch(final, lines[-1]), out
