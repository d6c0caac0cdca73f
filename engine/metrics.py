"""One process's Prometheus metrics, in a registry of its own (no global default registry).

The runtime builds one `Metrics` per process and hands it to what reports into it: the job
service (creates, starts and ends this process appended), the fetch settings of its workers
(every HTTP fetch they make), the webhook deliverer (each attempt's outcome) and the SSE
responses (clients connected). Counters count what happened in this process, so a cluster's
totals are sums over its instances. Gauges of shared things (queue depth, projector lag) are
set when `/metrics` is read (api/metrics.py); `track_reconnects` reads the NATS client's own
count then too.

Every label value a counter can take is created at 0 up front, so each series exists from the
start and `increase()` over the first event is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.domain.events import (
    AnyEvent,
    JobCanceled,
    JobCreated,
    JobFailed,
    JobStarted,
    JobSucceeded,
)
from engine.domain.model import JobStatus, JobType
from engine.domain.state import JobState

# seconds; a page from a nearby server takes milliseconds, a slow public one seconds
FETCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LANES = ("high", "normal", "low")  # engine/jetstream/work.py's lanes, by name
FETCH_RESULTS = ("2xx", "3xx", "4xx", "5xx", "error")
WEBHOOK_OUTCOMES = ("delivered", "retrying", "failed")
_ENDS: dict[type[AnyEvent], JobStatus] = {
    JobSucceeded: JobStatus.SUCCESS, JobFailed: JobStatus.FAILED, JobCanceled: JobStatus.CANCELED,
}  # fmt: skip


def type_name(job_type: int) -> str:
    """A job type's label value: its name in lower case (`crawl`), its number if unknown."""
    try:
        return JobType(job_type).name.lower()
    except ValueError:
        return str(job_type)


def fetch_result(status: int | None) -> str:
    """A fetch's label value: its status class (`2xx`), or `error` when no response came."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


class Metrics:
    """The metrics of one process; `registry` is what `/metrics` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs_created = Counter(
            "jobstream_jobs_created", "Jobs created by this process.", ["type"], registry=r
        )
        self.jobs_started = Counter(
            "jobstream_jobs_started", "Job runs started (each attempt) by this process's workers.",
            ["type"], registry=r,
        )  # fmt: skip
        self.jobs_finished = Counter(
            "jobstream_jobs_finished", "Jobs that ended, by the process that appended their end.",
            ["type", "status"], registry=r,
        )  # fmt: skip
        self.pages_fetched = Counter(
            "jobstream_pages_fetched", "HTTP fetches by this process's workers, by status class "
            "(error: no response).", ["result"], registry=r,
        )  # fmt: skip
        self.fetched_bytes = Counter(
            "jobstream_fetched_bytes", "Body bytes read by this process's workers.", registry=r
        )
        self.fetch_seconds = Histogram(
            "jobstream_fetch_duration_seconds", "Time of one fetch, redirects included.",
            buckets=FETCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "jobstream_queue_depth", "Work items waiting in each priority lane (cluster-wide).",
            ["lane"], registry=r,
        )  # fmt: skip
        self.projector_lag_events = Gauge(
            "jobstream_projector_lag_events", "Log events this node's read model has not applied.",
            registry=r,
        )  # fmt: skip
        self.projector_lag_seconds = Gauge(
            "jobstream_projector_lag_seconds",
            "Age of the oldest log event this node's read model has not applied (0: caught up).",
            registry=r,
        )  # fmt: skip
        self.sse_clients = Gauge(
            "jobstream_sse_clients", "Server-sent event streams open on this node.", registry=r
        )
        self.webhook_deliveries = Counter(
            "jobstream_webhook_deliveries", "Webhook delivery attempts made by this process, by "
            "outcome.", ["outcome"], registry=r,
        )  # fmt: skip
        self._zeroes()

    def _zeroes(self) -> None:
        for job_type in JobType:
            name = type_name(job_type)
            self.jobs_created.labels(name)
            self.jobs_started.labels(name)
            for status in _ENDS.values():
                self.jobs_finished.labels(name, status.name.lower())
        for result in FETCH_RESULTS:
            self.pages_fetched.labels(result)
        for lane in LANES:
            self.queue_depth.labels(lane)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_deliveries.labels(outcome)

    def appended(self, state: JobState | None, events: Sequence[AnyEvent]) -> None:
        """Count the creates, starts and ends among `events`, appended to job `state` (None
        for a create)."""
        job_type = state.type if state is not None else None
        for event in events:
            if isinstance(event, JobCreated):
                self.jobs_created.labels(type_name(event.type)).inc()
                job_type = event.type
            elif job_type is None:
                continue
            elif isinstance(event, JobStarted):
                self.jobs_started.labels(type_name(job_type)).inc()
            elif (status := _ENDS.get(type(event))) is not None:
                self.jobs_finished.labels(type_name(job_type), status.name.lower()).inc()

    def fetched(self, status: int | None, size: int, seconds: float) -> None:
        """Count one fetch: its status (None: no response), body bytes and duration."""
        self.pages_fetched.labels(fetch_result(status)).inc()
        self.fetched_bytes.inc(size)
        self.fetch_seconds.observe(seconds)

    def webhook_attempt(self, outcome: str) -> None:
        """Count one webhook delivery attempt by its outcome (delivered, retrying, failed)."""
        self.webhook_deliveries.labels(outcome).inc()

    def track_reconnects(self, reconnects: Callable[[], int]) -> None:
        """Report `reconnects()` (the NATS client's count) as jobstream_nats_reconnects."""
        self.registry.register(_Reconnects(reconnects))


class _Reconnects(Collector):
    """A counter whose value the NATS client keeps; read when the registry is collected."""

    def __init__(self, reconnects: Callable[[], int]) -> None:
        self._reconnects = reconnects

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "jobstream_nats_reconnects", "Times this process's NATS client reconnected."
        )
        family.add_metric([], self._reconnects())
        yield family

    def describe(self) -> Iterator[Metric]:
        return self.collect()
