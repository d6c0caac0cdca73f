"""The WORK queue: one work item per runnable job, on `work.<priority>`."""

from __future__ import annotations

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from engine.domain.events import JobCreated
from engine.domain.model import Priority
from engine.jetstream.provision import answered, ensure_stream

WORK_STREAM = "WORK"
# How long a silent worker keeps an item, and what a pull answer lost with a dying server
# costs its items (a WORK leader killed): workers heartbeat every third of it.
ACK_WAIT_S = 10.0
LANES: tuple[tuple[Priority, str], ...] = (
    (Priority.HIGH, "high"),
    (Priority.NORMAL, "normal"),
    (Priority.LOW, "low"),
)


class WorkItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Run job `job_id`; `trigger` is the log sequence that made it runnable (dedup key).

    `created`, when given, is the job's `JobCreated` event, stored at `trigger`: the whole
    job as it was made runnable, so a worker may start from it without reading the job back
    (engine/held.py `as_created`). Items without it (older ones too) decode with None.
    """

    job_id: str
    trigger: int
    created: JobCreated | None = None


def lane_of(priority: int) -> str:
    return next((name for p, name in LANES if p == priority), "normal")


def consumer_name(lane: str) -> str:
    return f"workers-{lane}"


async def ensure_work(
    js: JetStreamContext, ack_wait: float | None = None, *, replicas: int = 1
) -> None:
    """The WORK stream and one durable pull consumer per priority lane (idempotent).

    `ack_wait` (seconds) is how long a silent worker keeps an item before it is redelivered;
    given, it is applied to existing consumers too; None keeps theirs (ACK_WAIT_S when new).
    A new stream gets `replicas` (its consumers too); an existing one keeps its own.
    """
    await ensure_stream(
        js,
        StreamConfig(
            name=WORK_STREAM,
            num_replicas=replicas,
            subjects=["work.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=120.0,
            allow_atomic=True,  # the dispatcher stores a burst's work items in one batch
        ),
    )
    for _, lane in LANES:
        await _ensure_lane(js, lane, ack_wait)


async def _ensure_lane(js: JetStreamContext, lane: str, ack_wait: float | None) -> None:
    """The lane's consumer, asked again while a just-created stream elects its leader."""
    what = f"for the {lane} lane's consumer"
    wait = ack_wait
    if wait is None:
        wait = await answered(lambda: _current_ack_wait(js, lane), what)
    config = ConsumerConfig(
        durable_name=consumer_name(lane),
        filter_subject=f"work.{lane}",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=wait,
        max_deliver=-1,
        max_ack_pending=10_000,
    )
    await answered(lambda: js.add_consumer(WORK_STREAM, config), what)


async def _current_ack_wait(js: JetStreamContext, lane: str) -> float:
    try:
        info = await js.consumer_info(WORK_STREAM, consumer_name(lane))
    except nats.js.errors.NotFoundError:
        return ACK_WAIT_S
    return float(info.config.ack_wait or ACK_WAIT_S)


async def work_ack_wait(js: JetStreamContext) -> float:
    """The shortest ack_wait of the lanes: workers must show life more often than that."""
    return min([await _current_ack_wait(js, lane) for _, lane in LANES])


async def enqueue(
    js: JetStreamContext, job_id: str, priority: int, trigger: int,
    created: JobCreated | None = None,
) -> None:  # fmt: skip
    """Publish a work item; the same (job, trigger) is stored once however often it is sent."""
    subject, item, headers = work_message(job_id, priority, trigger, created)
    await js.publish(subject, item, headers=headers)


def work_message(
    job_id: str, priority: int, trigger: int, created: JobCreated | None = None
) -> tuple[str, bytes, dict[str, str]]:
    """A work item's subject, payload and headers (its message id dedupes it); `created`,
    the job's creation stored at `trigger`, goes with it (see WorkItem)."""
    item = msgspec.json.encode(WorkItem(job_id=job_id, trigger=trigger, created=created))
    return f"work.{lane_of(priority)}", item, {"Nats-Msg-Id": f"{job_id}.{trigger}"}
