"""The three-node cluster fixture itself: a replicated stream keeps its messages through the
SIGKILL of its leader, another node takes over, and the killed node comes back."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.js.api import StreamConfig

from tests.cluster import Cluster, cluster_nodes


async def test_r3_stream_survives_its_leader(cluster: Cluster) -> None:
    nc = await cluster.connect()
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="T", subjects=["t.>"], num_replicas=3))
        assert await cluster.replicas_of("T") == 3
        for i in range(5):
            await js.publish("t.x", str(i).encode())
        leader = await cluster.leader_of("T")

        await cluster.kill(leader)
        successor = await cluster.leader_of("T", not_on=leader)
        assert successor is not leader and not leader.running
        await js.publish("t.x", b"5")  # the stream takes writes with one node down

        await cluster.restart(leader)
        info = await js.stream_info("T")
        assert info.state.messages == 6
        assert info.cluster is not None and info.cluster.leader is not None
        replicas = {p.name for p in info.cluster.replicas or []} | {info.cluster.leader}
        assert replicas == {n.name for n in cluster.nodes}
    finally:
        await nc.close()


async def test_a_node_that_cannot_become_healthy_is_reported_with_its_answer_and_log(
    tmp_path: Path,
) -> None:
    """One node of three alone never has a meta leader: the failure says what its /healthz
    answered and how its log ends, not only that time ran out."""
    nodes = cluster_nodes(tmp_path)
    cluster = Cluster(nodes)
    await cluster.start(nodes[0])
    try:
        with pytest.raises(AssertionError, match=r"n1 not healthy in 1 s \(/healthz: 503 ") as e:
            await cluster.wait_healthy(nodes[0], timeout=1.0)
        assert "its log ends:\n" in str(e.value) and "Healthcheck failed" in str(e.value)
    finally:
        await cluster.stop(nodes[0])
