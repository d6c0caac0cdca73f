"""The commands that need NATS, as real processes, when their NATS is not theirs or not there.

A second `serve` on a NATS port another one uses ends with one line naming the port and
`--nats-port`, and the first keeps serving; `worker`, `api`, `user add` and `projections
rebuild` against a port nobody listens on end within seconds, with one line, no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from engine.jetstream.embedded import embedded_nats, ensure_credentials
from tests.e2e.processes import Served
from tests.sites.testsite import SiteHandle
from tests.support import (
    JOBSTREAM,
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

# How long a command against an absent NATS may take, start-up of the interpreter included.
GIVES_UP_S = 20.0
START_S = 40.0


@contextlib.asynccontextmanager
async def working_serve(tmp_path: Path) -> AsyncIterator[Served]:
    """`jobstream serve` with one worker, allowed to fetch 127.0.0.1, until healthy."""
    port, nats_port = free_ports(2)
    data = tmp_path / "first"
    proc = await spawn(
        tmp_path / "first.log", "serve", "--workers", "1", "--allow-private-networks",
        "--port", str(port), "--nats-port", str(nats_port), "--data-dir", str(data),
        env=cli_env(),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def healthy() -> bool:
                assert proc.returncode is None, (tmp_path / "first.log").read_text()
                try:
                    async with session.get(f"{base}/health") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await wait_until(healthy, timeout=START_S, interval=0.1)
            token = (data / "admin-token").read_text().strip()
            yield Served(Client(session, base, token), served_nats_url(data, nats_port), proc)
    finally:
        await stopped(proc)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err, err
    return lines[0]


async def scrape_succeeds(client: Client, site: SiteHandle) -> None:
    status, job = await client.call(
        "POST", "/api/job/create/scrape", json={"urls": [site.url("/page/1")]}
    )
    assert status == 201, job
    assert (await finished(client, job["id"], timeout=30))["status"] == 2


async def test_a_second_serve_on_a_taken_nats_port_exits_and_the_first_runs_on(
    tmp_path: Path, site: SiteHandle
) -> None:
    async with working_serve(tmp_path) as first:
        nats_port = urlsplit(first.nats_url).port
        assert nats_port is not None
        second = tmp_path / "second"
        code, out, err = await run_cli(
            "serve", "--data-dir", str(second), "--port", str(free_port()),
            "--nats-port", str(nats_port), "--workers", "0", env=cli_env(),
        )  # fmt: skip
        assert code == 2, (code, out, err)
        line = one_error_line(err)
        assert f"port {nats_port}" in line and "--nats-port" in line, line
        assert "taken" in line, line
        assert not (second / "admin-token").exists()  # it never served, nor made a user

        # the same data dir on another port: its store is the first one's, locked
        ports = free_ports(2)
        code, out, err = await run_cli(
            "serve", "--data-dir", str(tmp_path / "first"), "--port", str(ports[0]),
            "--nats-port", str(ports[1]), "--workers", "0", env=cli_env(),
        )  # fmt: skip
        assert code == 2, (code, out, err)
        line = one_error_line(err)
        assert "in use" in line and "--data-dir" in line and "--nats-port" in line, line

        assert first.proc.returncode is None
        await scrape_succeeds(first.client, site)
        status, health = await first.client.call("GET", "/health")
        assert status == 200 and health["nats"] is True, health


@pytest.fixture
def stranded(tmp_path: Path) -> tuple[Path, int]:
    """A data dir with NATS credentials, and a port nobody listens on."""
    data = tmp_path / "data"
    ensure_credentials(data)
    return data, free_port()


COMMANDS = [
    ("user", "add", "bob"),
    ("projections", "rebuild"),
    ("worker",),
    ("worker", "--burst"),
    ("api", "--port", "0"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
async def test_a_command_against_a_stopped_nats_ends_with_one_line(
    stranded: tuple[Path, int], command: tuple[str, ...]
) -> None:
    data, port = stranded
    args = [*command, "--data-dir", str(data), "--nats-port", str(port)]
    async with asyncio.timeout(GIVES_UP_S):
        code, out, err = await run_cli(*args, env=cli_env())
    assert code == 2, (code, out, err)
    line = one_error_line(err)
    assert f"cannot reach NATS at nats://127.0.0.1:{port} (connection refused)" in line, line
    assert "--wait" in line and "--nats-port" in line, line
    assert out == ""


async def test_nats_url_names_the_server_a_command_cannot_reach(stranded: tuple[Path, int]) -> None:
    data, port = stranded
    env = cli_env(NATS_URL=f"nats://jobstream:secret@127.0.0.1:{port}")
    async with asyncio.timeout(GIVES_UP_S):
        code, out, err = await run_cli("serve", "--data-dir", str(data), env=env)
    assert code == 2, (code, out, err)
    line = one_error_line(err)
    assert f"cannot reach NATS at nats://127.0.0.1:{port}" in line, line
    assert "the server NATS_URL names" in line and "secret" not in err, line


async def test_wait_lets_a_command_start_before_its_nats(stranded: tuple[Path, int]) -> None:
    data, port = stranded
    proc = await asyncio.create_subprocess_exec(
        JOBSTREAM, "user", "add", "carol", "--data-dir", str(data), "--nats-port", str(port),
        "--wait", "60", env=cli_env(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stderr is not None
    async with asyncio.timeout(GIVES_UP_S):
        waiting = (await proc.stderr.readline()).decode()
    assert waiting.startswith(f"waiting up to 60 s for NATS at nats://127.0.0.1:{port}"), waiting
    credentials = ensure_credentials(data)
    async with embedded_nats(data / "nats", port, None, credentials):
        async with asyncio.timeout(GIVES_UP_S):
            out, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert out.decode().startswith("js_"), out
