"""Start-up on a three-node cluster: API processes started at once on a fresh cluster all come
up (no UserExists for the admin, no no-responders writing a bucket just created), with every
stream and bucket made with three replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.cluster import Cluster
from tests.support import Client, cli_env, free_ports, spawn, stopped, wait_until

API_NODES = 5
START_S = 60.0  # five interpreters importing at once on two shared cores


async def _healthy(session: aiohttp.ClientSession, port: int, proc: asyncio.subprocess.Process,
                   log: Path) -> bool:  # fmt: skip
    assert proc.returncode is None, log.read_text()
    try:
        async with session.get(f"http://127.0.0.1:{port}/health") as resp:
            return resp.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def test_five_api_nodes_start_at_once_on_a_fresh_cluster(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = cli_env(NATS_URL=cluster.nats_url, JOBSTREAM_REPLICAS="3")
    ports = free_ports(API_NODES)
    dirs = [tmp_path / f"api{i}" for i in range(API_NODES)]
    logs = [tmp_path / f"api{i}.log" for i in range(API_NODES)]
    procs = await asyncio.gather(*(
        spawn(log, "api", "--port", str(port), "--data-dir", str(d), env=env)
        for log, port, d in zip(logs, ports, dirs, strict=True)
    ))  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            for port, proc, log in zip(ports, procs, logs, strict=True):
                await wait_until(
                    lambda p=port, pr=proc, lg=log: _healthy(session, p, pr, lg),
                    timeout=START_S, interval=0.1,
                )  # fmt: skip
            saved = [d / "admin-token" for d in dirs if (d / "admin-token").exists()]
            assert len(saved) == 1, "exactly one node created the admin"
            token = saved[0].read_text().strip()
            for port in ports:  # the one admin is every node's
                client = Client(session, f"http://127.0.0.1:{port}", token)
                status, _ = await client.call("GET", "/api/jobs")
                assert status == 200
        await _all_replicated(cluster)
    finally:
        codes = [await stopped(proc) for proc in procs]
    assert codes == [0] * API_NODES, [log.read_text()[-2000:] for log in logs]


async def _all_replicated(cluster: Cluster) -> None:
    """Every stream the nodes made (KV buckets and the object store are streams too) has
    three replicas."""
    nc = await cluster.connect()
    try:
        infos = await nc.jetstream().streams_info()
    finally:
        await nc.close()
    replicas = {info.config.name: info.config.num_replicas for info in infos}
    assert {"JOBS", "WORK", "RESULTS", "KV_users", "OBJ_library"} <= set(replicas)
    assert set(replicas.values()) == {3}, replicas
