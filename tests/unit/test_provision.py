"""Which fields of a stream start-up owns: what the code's config sets, never the replicas or
placement."""

from __future__ import annotations

import dataclasses

from nats.js.api import Placement, RetentionPolicy, StorageType, StreamConfig

from engine.jetstream.provision import differs, owned_fields, reconciled
from engine.jetstream.store import jobs_stream_config


def test_the_code_owns_what_it_sets_and_never_replicas_or_placement() -> None:
    code = jobs_stream_config(replicas=3)
    owned = owned_fields(code)
    assert {"name", "subjects", "allow_direct", "allow_atomic", "duplicate_window"} <= owned
    assert not owned & {"num_replicas", "placement", "max_bytes", "max_age"}


def test_reconciling_keeps_the_rest_of_the_existing_stream() -> None:
    existing = StreamConfig(
        name="JOBS", subjects=["old.>"], storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS, num_replicas=5, placement=Placement(tags=["ssd"]),
        max_bytes=1 << 30, allow_direct=False, duplicate_window=120.0,
    )  # fmt: skip
    code = jobs_stream_config(replicas=1)
    assert differs(existing, code)
    after = reconciled(existing, code)
    assert (after.num_replicas, after.placement, after.max_bytes) == (
        5,
        existing.placement,
        1 << 30,
    )
    assert (after.subjects, after.allow_direct, after.allow_atomic) == (["jobs.>"], True, True)
    assert not differs(after, code)
    assert not differs(dataclasses.replace(after, num_replicas=1), code)
