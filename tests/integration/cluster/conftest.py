from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster import Cluster, nats_cluster


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A fresh three-node JetStream cluster (tests/cluster.py), stopped after the test."""
    async with nats_cluster(tmp_path / "cluster") as running:
        yield running
