"""The harness's free ports: ports asked for together are distinct.

Asked for one after another, the kernel may hand out a port it just released again: a
three-node test cluster once got one port for a node's clients and another node's routes,
and that node never started."""

from __future__ import annotations

from tests.support import free_ports


def test_ports_asked_for_together_are_distinct() -> None:
    # 200 ports asked for one by one repeat one most of the time (the birthday bound over
    # the kernel's ephemeral range); held together, never
    ports = free_ports(200)
    assert len(ports) == 200 and len(set(ports)) == 200
    assert all(1024 <= port <= 65535 for port in ports)
