"""The first writes of processes starting at once on a three-node cluster, each connected to
one node: one signing secret that all of them read, one admin whose name the others find
taken. A KV read is answered by any replica, so a process may read before the winner's write
reached its node."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NATS

from api.stream_tokens import open_config, shared_secret
from api.users import UserExists, UserStore
from tests.cluster import Cluster

PER_NODE = 2


async def _clients(cluster: Cluster) -> list[NATS]:
    async def one(url: str) -> NATS:
        nc = NATS()
        await nc.connect(servers=[url], max_reconnect_attempts=0)
        return nc

    return await asyncio.gather(*(one(u) for u in cluster.urls for _ in range(PER_NODE)))


async def _admin(nc: NATS) -> str | None:
    users = await UserStore.open(nc.jetstream(), replicas=3)
    try:
        return await users.add("admin", admin=True)
    except UserExists:
        return None


@pytest.mark.parametrize("round_", range(2))
async def test_one_secret_and_one_admin_whoever_starts_first(cluster: Cluster, round_: int) -> None:
    clients = await _clients(cluster)
    try:
        kvs = await asyncio.gather(*(open_config(nc.jetstream(), 3) for nc in clients))
        secrets = await asyncio.gather(*(shared_secret(kv) for kv in kvs))
        assert len(set(secrets)) == 1 and len(secrets[0]) == 32
        tokens = await asyncio.gather(*(_admin(nc) for nc in clients))
        assert len([t for t in tokens if t is not None]) == 1, tokens
    finally:
        await asyncio.gather(*(nc.close() for nc in clients))
