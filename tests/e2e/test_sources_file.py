"""The operator's sources file with real processes: `jobstream serve --sources-file` and a
`jobstream worker` reading JOBSTREAM_SOURCES_FILE, a local NovelFull site on 127.0.0.1 bound
through the file; a bad file stops either start with one line naming the field."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from engine.domain.model import JobStatus, JobType
from engine.novels.hosts import host_key
from tests.integration.novels.novel_helpers import NO_FAULTS
from tests.sites.novelsite import MAIN_CHAPTERS, serve_novel_site
from tests.support import (
    Client,
    cli_env,
    finished,
    free_port,
    free_ports,
    run_cli,
    served_nats_url,
    spawn,
    stopped,
    wait_until,
)


@contextlib.asynccontextmanager
async def _serve(tmp_path: Path, sources: Path) -> AsyncIterator[tuple[Client, str]]:
    """`jobstream serve --workers 0 --sources-file sources` until healthy: its admin client
    and NATS_URL."""
    (port, nats_port), data = free_ports(2), tmp_path / "data"
    proc = await spawn(
        tmp_path / "serve.log", "serve", "--workers", "0", "--port", str(port),
        "--nats-port", str(nats_port), "--data-dir", str(data), "--allow-private-networks",
        "--sources-file", str(sources), env=cli_env(),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def healthy() -> bool:
                assert proc.returncode is None, (tmp_path / "serve.log").read_text()
                try:
                    async with session.get(f"{base}/health") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await wait_until(healthy, timeout=30, interval=0.1)
            token = (data / "admin-token").read_text().strip()
            yield Client(session, base, token), served_nats_url(data, nats_port)
    finally:
        await stopped(proc)


async def test_a_host_bound_in_the_file_needs_no_source(tmp_path: Path) -> None:
    async with serve_novel_site("novelfull", faults=NO_FAULTS) as site:
        sources = tmp_path / "sources.json"
        bound = host_key(site.origin)  # 127.0.0.1:<port>
        sources.write_text(json.dumps({"bindings": {"novelfull": ["novels.example", bound]}}))
        async with _serve(tmp_path, sources) as (client, nats_url):
            status, listed = await client.call("GET", "/api/sources")
            assert status == 200, listed
            hosts = {s["name"]: s["hosts"] for s in listed}
            assert sorted(hosts["novelfull"]) == sorted([bound, "novels.example"])
            env = cli_env(NATS_URL=nats_url, JOBSTREAM_ALLOW_PRIVATE="1",
                          JOBSTREAM_SOURCES_FILE=str(sources))  # fmt: skip
            worker = await spawn(tmp_path / "worker.log", "worker", env=env)
            try:
                status, job = await client.call(
                    "POST", "/api/job/create/fetch-novel", json={"url": site.novel_url()}
                )
                assert status == 201, job
                job = await finished(client, job["id"], timeout=60)
            finally:
                await stopped(worker)
            assert (job["type"], job["status"]) == (JobType.NOVEL, JobStatus.SUCCESS), job
            status, novel = await client.call("GET", f"/api/novel/{job['extra']['novel_id']}")
    assert status == 200, novel
    assert (novel["source"], novel["chapter_count"]) == ("novelfull", MAIN_CHAPTERS), novel
    assert site.log[site.novel_url().removeprefix(site.origin)] == 1  # read by the worker


@pytest.mark.parametrize("command", ["serve", "api", "worker"])
async def test_a_bad_sources_file_stops_the_start_with_one_line(
    tmp_path: Path, command: str
) -> None:
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps({"bindings": {"novelfull": ["ok.example", 42]}}))
    args = ["--data-dir", str(tmp_path / "data"), "--nats-port", str(free_port())]
    code, out, err = await run_cli(command, *args, "--sources-file", str(sources), env=cli_env())
    assert code == 2, (out, err)
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: sources file {sources}: bindings.novelfull[1]: "), line
    assert "Expected `str`, got `int`" in line
