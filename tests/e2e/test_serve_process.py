"""`jobstream serve` as a real process: crash, restart, clean stop, read model rebuilt from the log.

Every server here is the installed `jobstream` command with its embedded nats-server, on free
ports, storing under the test's own directory (NATS_URL removed from its environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import (
    JOBSTREAM,
    Client,
    cli_env,
    free_port,
    free_ports,
    nats_pids,
    run_cli,
    served_nats_url,
    wait_until,
)

START_S = 40.0


def parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


class Server:
    """One `jobstream serve` process and an HTTP session to it."""

    def __init__(self, data_dir: Path, port: int, nats_port: int, log: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.nats_port = nats_port
        self.log = log
        self.base = f"http://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def store(self) -> Path:
        return self.data_dir / "nats"

    @property
    def nats_url(self) -> str:
        return served_nats_url(self.data_dir, self.nats_port)

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                JOBSTREAM, "serve", "--data-dir", str(self.data_dir), "--port", str(self.port),
                "--nats-port", str(self.nats_port), "--workers", "0",
                env=cli_env(), stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip

    async def healthy(self, session: aiohttp.ClientSession) -> None:
        """Wait for /health to answer 200; fail at once if the process exits."""

        async def ok() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}:\n{self.tail()}")
            try:
                async with session.get(self.base + "/health") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(ok, timeout=START_S, interval=0.05)

    async def stop(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        async with asyncio.timeout(30):
            return await self.proc.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Api(Client):
    async def ok(self, method: str, path: str, json: Any = None) -> Any:
        """The body of a request that must succeed (200 or 201)."""
        status, body = await self.call(method, path, json=json)
        assert status in (200, 201), (method, path, status, body)
        return body


async def snapshot(admin: Api, user: Api, job_ids: list[str]) -> dict[str, Any]:
    """Everything the API says about these jobs: both lists, each job, each history."""
    jobs = {job_id: await admin.call("GET", f"/api/job/{job_id}") for job_id in job_ids}
    histories = {
        job_id: await admin.call("GET", f"/api/job/{job_id}/events", params={"limit": 100})
        for job_id in job_ids
    }
    return {
        "admin": await admin.call("GET", "/api/jobs", params={"limit": 100}),
        "user": await user.call("GET", "/api/jobs", params={"limit": 100}),
        "jobs": jobs,
        "events": histories,
    }


def rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {
            "jobs": conn.execute("SELECT * FROM jobs ORDER BY id").fetchall(),
            "job_events": conn.execute("SELECT * FROM job_events ORDER BY seq").fetchall(),
        }


async def make_jobs(admin: Api, alice: Api) -> list[str]:
    """A mix of jobs: pending, canceled, deleted, replayed, dependent; two owners."""
    c = "/api/job/create/"
    src = {"source": "novelfull"}  # no source reads these hosts; no worker runs the jobs
    made = [
        await admin.ok("POST", c + "fetch-novel", {"url": "https://example.com/a", **src}),
        await admin.ok("POST", c + "fetch-novel", {"url": "https://e.com/b", "full": True, **src}),
        await admin.ok("POST", c + "scrape", {"urls": ["https://example.com/c1"], "priority": 2}),
        await admin.ok("POST", c + "crawl", {"url": "https://example.com/"}),
        await admin.ok("POST", c + "scrape", {"urls": ["https://example.com/v1"]}),
        await alice.ok("POST", c + "scrape", {"urls": ["https://example.com/alice"]}),
    ]
    ids = [j["id"] for j in made]
    dependent = {"url": "https://example.com/d", "depends_on": ids[0], **src}
    ids.append((await admin.ok("POST", "/api/job/create/fetch-novel", dependent))["id"])
    assert await admin.ok("POST", f"/api/job/{ids[1]}/cancel") is True
    assert await alice.ok("POST", f"/api/job/{ids[5]}/cancel") is True
    ids.append((await admin.ok("POST", f"/api/job/{ids[1]}/replay"))["id"])
    assert await admin.ok("DELETE", f"/api/job/{ids[3]}") is True
    return ids


@contextlib.asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Server, aiohttp.ClientSession]]:
    port, nats_port = free_ports(2)
    server = Server(tmp_path / "data", port, nats_port, tmp_path / "serve.log")
    async with aiohttp.ClientSession() as session:
        try:
            yield server, session
        finally:
            if server.proc is not None and server.proc.returncode is None:
                server.proc.kill()
                await server.proc.wait()


async def test_crash_restart_stop_and_rebuild(tmp_path: Path) -> None:
    async with serving(tmp_path) as (server, session):
        await server.start()
        await server.healthy(session)
        token_file = server.data_dir / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert token.startswith("js_")
        assert token in server.tail()  # shown once, on the first start
        admin = Api(session, server.base, token)

        # a user made by the CLI, against the running server's NATS
        env = cli_env(NATS_URL=server.nats_url)
        code, out, err = await run_cli("user", "add", "alice", "--tier", "premium", env=env)
        assert code == 0, err
        alice = Api(session, server.base, out.strip())
        assert alice.token.startswith("js_") and out.count("\n") == 1
        code, _, err = await run_cli("user", "add", "alice", env=env)
        assert code == 1 and "exists" in err

        ids = await make_jobs(admin, alice)
        before = await snapshot(admin, alice, ids)
        assert before["admin"][1]["total"] == len(ids) - 1  # one deleted
        (alices,) = before["user"][1]["items"]
        assert (alices["id"], alices["priority"], alices["status"]) == (ids[5], 1, 4)  # premium
        # admins keep reading a deleted job and its history, flagged (docs/decisions.md)
        assert before["jobs"][ids[3]][0] == 200 and before["jobs"][ids[3]][1]["deleted"] is True
        assert before["events"][ids[3]][0] == 200
        assert [before["jobs"][i][1]["status"] for i in (ids[0], ids[1], ids[7])] == [0, 4, 0]
        assert before["jobs"][ids[6]][1]["depends_on"] == ids[0]
        assert before["jobs"][ids[7]][1]["extra"] == {"replay_of": ids[1]}
        kinds = [e["kind"] for e in before["events"][ids[1]][1]["items"]]
        assert kinds == ["created", "canceled"]

        # the read model rebuilt from the log, into another directory, equals the live one
        code, out, err = await run_cli(
            "projections", "rebuild", "--data-dir", str(tmp_path / "d2"), env=env
        )
        assert code == 0, err
        assert "rebuilt" in out
        rebuilt = rows(tmp_path / "d2" / "jobs.sqlite3")
        assert rebuilt == rows(server.data_dir / "jobs.sqlite3")
        assert len(rebuilt["jobs"]) == len(ids)  # the deleted job is a row, flagged

        # SIGKILL: no clean-up runs, yet the embedded nats-server goes with it
        (nats_pid,) = nats_pids(server.store)
        assert server.proc is not None
        assert parent_of(nats_pid) == server.proc.pid
        assert await server.stop(signal.SIGKILL) == -signal.SIGKILL
        await wait_until(lambda: not nats_pids(server.store), timeout=15)

        await server.start()
        await server.healthy(session)
        assert await snapshot(admin, alice, ids) == before

        # SIGTERM: a clean exit, the child stopped
        assert await server.stop(signal.SIGTERM) == 0
        assert nats_pids(server.store) == []

        # the read model is a cache: delete it and the next start rebuilds it from the log
        for suffix in ("", "-wal", "-shm"):
            Path(f"{server.data_dir / 'jobs.sqlite3'}{suffix}").unlink(missing_ok=True)
        await server.start()
        await server.healthy(session)
        assert await snapshot(admin, alice, ids) == before
        assert rows(server.data_dir / "jobs.sqlite3") == rebuilt
        assert await server.stop(signal.SIGTERM) == 0
        assert nats_pids(server.store) == []


async def test_serve_fails_clearly_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(tmp_path / "data", port, free_port(), tmp_path / "serve.log")
        await server.start()
        assert server.proc is not None
        async with asyncio.timeout(START_S):
            code = await server.proc.wait()
    assert code != 0
    assert "address already in use" in server.tail()
    await wait_until(lambda: not nats_pids(server.store), timeout=15)
