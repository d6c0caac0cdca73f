"""Start-up on an existing stream changes only the fields the code owns: the replicas and
placement an operator chose stay, and so do limits the code does not set."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from nats.js.api import Placement, StreamConfig

from engine.jetstream.provision import SetupRefused, ensure_stream
from engine.jetstream.store import jobs_stream_config, wait_for_jetstream
from tests.cluster import Cluster
from tests.support import nats_server


async def test_a_restart_keeps_the_operators_replicas_and_placement(cluster: Cluster) -> None:
    nc = await cluster.connect()
    try:
        js = nc.jetstream()
        operated = dataclasses.replace(  # as an operator made it, before any start-up
            jobs_stream_config(), num_replicas=3, placement=Placement(cluster="jobstream"),
            max_bytes=10_000_000, allow_direct=False,  # the last drifted from the code's value
        )  # fmt: skip
        await js.add_stream(operated)

        await ensure_stream(js, jobs_stream_config(replicas=1))  # as any later start does

        after = (await js.stream_info("JOBS")).config
        assert after.num_replicas == 3
        assert after.placement is not None and after.placement.cluster == "jobstream"
        assert after.max_bytes == 10_000_000
        assert after.allow_direct is True  # the code owns it
        assert after.subjects == ["jobs.>"]
        assert (await js.stream_info("JOBS")).state.messages == 0  # probe writes store nothing
    finally:
        await nc.close()


async def test_more_replicas_than_servers_is_refused_by_name(tmp_path: Path) -> None:
    async with nats_server(tmp_path / "nats") as url:
        nc = await wait_for_jetstream(url)
        try:
            config = StreamConfig(name="X", subjects=["x.>"], num_replicas=3)
            with pytest.raises(SetupRefused, match="refused to create X"):
                await ensure_stream(nc.jetstream(), config)
        finally:
            await nc.close()
