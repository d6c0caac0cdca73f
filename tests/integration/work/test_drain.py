"""A worker stopped (SIGTERM) while a job of it cannot end: it stops within its drain grace,
and the job, left for redelivery, is resumed by the next worker with nothing recorded
twice. Real worker processes, NATS and HTTP."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

from engine.domain.events import PageRecorded
from tests.integration.api.helpers import engine
from tests.integration.work.helpers import HoldSite, WorkerProcesses
from tests.support import Service, finished, wait_until

DRAIN_S = 0.5


async def test_a_stopped_worker_leaves_a_job_it_cannot_end_to_the_next(
    queue_only: Service, hold_site: HoldSite, nats_url: str, tmp_path: Path
) -> None:
    workers = WorkerProcesses(nats_url, tmp_path / "logs", JOBSTREAM_WORKER_DRAIN=str(DRAIN_S))
    try:
        body = {"url": hold_site.url("/"), "use_sitemap": False, "concurrency": 1}
        status, job = await queue_only.admin.call("POST", "/api/job/create/crawl", json=body)
        assert status == 201, job
        first = await workers.start("--concurrency", "1")
        await wait_until(lambda: hold_site.hits["/hold/1"] == 1, timeout=20)  # held there
        first.send_signal(signal.SIGTERM)
        # drained, its crawl cut off after DRAIN_S: it exits though the page never answers
        assert await asyncio.wait_for(first.wait(), 10) == 0, workers.log(0)
        assert "left for redelivery" in workers.log(0)

        hold_site.release("/hold/1")
        await workers.start("--concurrency", "1")  # takes the item after ack_wait
        done = await finished(queue_only.admin, job["id"], timeout=30)
        assert done["status"] == 2 and done["done"] == 4, done
        history = await engine(queue_only).store.history(job["id"])
        recorded = Counter(s.event.url for s in history if isinstance(s.event, PageRecorded))
        assert set(recorded.values()) == {1}, recorded  # nothing recorded twice
        assert hold_site.hits["/hold/1"] == 2  # fetched again: it had not been recorded
    finally:
        await workers.close()
