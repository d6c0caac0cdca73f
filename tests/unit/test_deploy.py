"""deploy/: the compose file describes three routed NATS nodes with the project's durability
settings, two API nodes and two workers reaching all three nodes with three replicas; its
NATS configuration is the one the cluster tests run (tests/cluster.py)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.jetstream.embedded import nats_server_binary
from engine.jetstream.nats_access import parse_access
from tests.cluster import DEPLOY_CONF

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NATS_NODES = ("nats1", "nats2", "nats3")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return dict(compose["services"])


def _flags(command: list[str]) -> dict[str, str]:
    """A nats-server command line's `-flag value` pairs (`-js` alone maps to '')."""
    flags: dict[str, str] = {}
    for i, arg in enumerate(command):
        if arg.startswith("-"):
            nxt = command[i + 1] if i + 1 < len(command) else ""
            flags[arg] = "" if nxt.startswith("-") else nxt
    return flags


def _jetstream_block(conf: Path) -> dict[str, str]:
    """The `key: value` lines of a nats configuration's `jetstream { }` block."""
    block = re.search(r"^jetstream\s*\{(.*?)^\}", conf.read_text(), re.S | re.M)
    assert block is not None, f"{conf} has no jetstream block"
    settings = {}
    for line in block.group(1).splitlines():
        if setting := line.split("#")[0].strip():
            key, _, value = setting.partition(":")
            settings[key.strip()] = value.strip()
    return settings


def test_the_cluster_tests_run_the_deployed_nats_configuration() -> None:
    assert DEPLOY_CONF == DEPLOY / "nats-cluster.conf"


def test_its_durability_settings_are_the_single_servers() -> None:
    deployed = _jetstream_block(DEPLOY_CONF)
    assert deployed == _jetstream_block(ROOT / "nats.conf")
    assert deployed["sync_interval"] == "always"


def test_nats_server_accepts_the_configuration() -> None:
    env = os.environ | {"NATS_USER": "jobstream", "NATS_PASSWORD": "p0123"}
    checked = subprocess.run(
        [nats_server_binary(), "-c", str(DEPLOY_CONF), "-t"], env=env, capture_output=True,
        text=True, timeout=30, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_three_nats_nodes_routed_to_each_other(services: dict[str, Any]) -> None:
    version = subprocess.run(
        [nats_server_binary(), "--version"], capture_output=True, text=True, check=True
    ).stdout.split("v")[-1].strip()  # fmt: skip
    names = set()
    for node in NATS_NODES:
        service = services[node]
        assert service["image"].startswith(f"nats:{version}")  # the version the tests run
        flags = _flags(service["command"])
        config_mount = next(v for v in service["volumes"] if v.startswith("./nats-cluster.conf:"))
        assert config_mount.split(":")[1] == flags["-c"]
        assert "-js" in flags and flags["-sd"]
        assert any(v.endswith(f":{flags['-sd']}") for v in service["volumes"])  # a volume
        cluster_port = flags["--cluster"].rsplit(":", 1)[1]
        routes = {f"nats://{n}:{cluster_port}" for n in NATS_NODES}
        assert set(flags["--routes"].split(",")) == routes
        names.add(flags["--name"])
        env = service["environment"]
        assert env["NATS_USER"] and "${NATS_PASSWORD" in env["NATS_PASSWORD"]
    assert names == set(NATS_NODES)


@pytest.mark.parametrize(("role", "count"), [("api", 2), ("worker", 2)])
def test_jobstream_processes_reach_every_node_with_three_replicas(
    services: dict[str, Any], role: str, count: int
) -> None:
    ours = {name: s for name, s in services.items() if s["command"][:2] == ["jobstream", role]}
    assert len(ours) == count
    for service in ours.values():
        env = service["environment"]
        assert env["JOBSTREAM_REPLICAS"] == "3"
        nats_port = _flags(services["nats1"]["command"])["-p"]
        access = parse_access(env["NATS_URL"].replace("${NATS_PASSWORD}", "p0123"))
        assert set(access.addresses) == {(n, int(nats_port)) for n in NATS_NODES}
        assert (access.user, access.password) == ("jobstream", "p0123")
        assert "--wait" in service["command"]
    ports = [p for s in services.values() for p in s.get("ports", [])]
    assert len(ports) == len(set(ports))
