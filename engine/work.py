"""The WORK queue: one work item per runnable job, on `work.<priority>`."""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from engine.model import Priority
from engine.store import ensure_stream

WORK_STREAM = "WORK"
ACK_WAIT_S = 30.0
LANES: tuple[tuple[Priority, str], ...] = (
    (Priority.HIGH, "high"),
    (Priority.NORMAL, "normal"),
    (Priority.LOW, "low"),
)


class WorkItem(msgspec.Struct, frozen=True, kw_only=True):
    """Run job `job_id`; `trigger` is the log sequence that made it runnable (dedup key)."""

    job_id: str
    trigger: int


def lane_of(priority: int) -> str:
    return next((name for p, name in LANES if p == priority), "normal")


def consumer_name(lane: str) -> str:
    return f"workers-{lane}"


async def ensure_work(js: JetStreamContext) -> None:
    """The WORK stream and one durable pull consumer per priority lane (idempotent)."""
    await ensure_stream(
        js,
        StreamConfig(
            name=WORK_STREAM,
            subjects=["work.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=120.0,
        ),
    )
    for _, lane in LANES:
        await js.add_consumer(
            WORK_STREAM,
            ConsumerConfig(
                durable_name=consumer_name(lane),
                filter_subject=f"work.{lane}",
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT_S,
                max_deliver=-1,
                max_ack_pending=10_000,
            ),
        )


async def enqueue(js: JetStreamContext, job_id: str, priority: int, trigger: int) -> None:
    """Publish a work item; the same (job, trigger) is stored once however often it is sent."""
    item = msgspec.json.encode(WorkItem(job_id=job_id, trigger=trigger))
    headers = {"Nats-Msg-Id": f"{job_id}.{trigger}"}
    await js.publish(f"work.{lane_of(priority)}", item, headers=headers)
