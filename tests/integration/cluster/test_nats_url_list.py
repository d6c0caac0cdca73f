"""NATS_URL naming every node: a process reaches the cluster and sets its streams up while
the first node it names is down."""

from __future__ import annotations

from engine.domain.events import Codec
from engine.jetstream.store import EventStore, wait_for_jetstream
from tests.cluster import Cluster


async def test_the_first_node_down_another_serves(cluster: Cluster) -> None:
    first = cluster.nodes[0]
    await cluster.kill(first)
    nc = await wait_for_jetstream(cluster.nats_url)  # its credentials are in the dead node's URL
    try:
        assert nc.connected_url is not None and nc.connected_url.port != first.port
        await EventStore(nc, Codec()).ensure(replicas=3)
        assert await cluster.replicas_of("JOBS") == 3
    finally:
        await nc.close()
