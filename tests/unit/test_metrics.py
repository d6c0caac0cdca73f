"""engine/metrics.py, directly: what each append and fetch counts, read back through the
registry's own text output parsed by prometheus_client, and registries that share nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine.domain.envelope import event_envelope
from engine.domain.events import (
    AnyEvent,
    JobCanceled,
    JobCreated,
    JobFailed,
    JobStarted,
    JobSucceeded,
    LogWritten,
)
from engine.domain.model import JobType
from engine.domain.state import JobState
from engine.metrics import FETCH_RESULTS, Metrics, fetch_result, type_name


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(m.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(m: Metrics, name: str, **labels: str) -> float:
    return samples(m)[(name, tuple(sorted(labels.items())))]


def test_a_job_s_life_is_counted_under_its_type() -> None:
    m = Metrics()
    created = JobCreated(
        **event_envelope("job1", "w1"), user_id="u", type=JobType.CRAWL, priority=1
    )
    m.appended(None, [created])
    state = JobState(id="job1", user_id="u", type=JobType.CRAWL, priority=1)
    m.appended(
        state,
        [
            JobStarted(**event_envelope("job1", "w1"), worker_id="w1"),
            LogWritten(**event_envelope("job1", "w1")),
        ],
    )
    m.appended(state, [JobSucceeded(**event_envelope("job1", "w1"))])
    assert value(m, "jobstream_jobs_created_total", type="crawl") == 1
    assert value(m, "jobstream_jobs_started_total", type="crawl") == 1
    assert value(m, "jobstream_jobs_finished_total", type="crawl", status="success") == 1
    assert value(m, "jobstream_jobs_finished_total", type="crawl", status="failed") == 0
    assert value(m, "jobstream_jobs_created_total", type="scrape") == 0


@settings(max_examples=30)
@given(st.lists(st.sampled_from(["failed", "canceled", "success"]), max_size=20))
def test_each_end_counts_once_by_status(ends: list[str]) -> None:
    m = Metrics()
    state = JobState(id="job1", user_id="u", type=JobType.SPIDER, priority=0)
    made: dict[str, AnyEvent] = {
        "failed": JobFailed(**event_envelope("job1", "w1"), error="x"),
        "canceled": JobCanceled(**event_envelope("job1", "w1")),
        "success": JobSucceeded(**event_envelope("job1", "w1")),
    }
    for end in ends:
        m.appended(state, [made[end]])
    for status in made:
        got = value(m, "jobstream_jobs_finished_total", type="spider", status=status)
        assert got == ends.count(status)


@settings(max_examples=30)
@given(st.lists(st.tuples(st.none() | st.integers(0, 999), st.integers(0, 10**6)), max_size=30))
def test_fetches_count_by_status_class_with_their_bytes(
    fetches: list[tuple[int | None, int]],
) -> None:
    m = Metrics()
    for status, size in fetches:
        m.fetched(status, size, 0.02)
    for result in FETCH_RESULTS:
        want = sum(1 for status, _ in fetches if fetch_result(status) == result)
        assert value(m, "jobstream_pages_fetched_total", result=result) == want
    assert value(m, "jobstream_fetched_bytes_total") == sum(size for _, size in fetches)
    assert value(m, "jobstream_fetch_duration_seconds_count") == len(fetches)
    assert value(m, "jobstream_fetch_duration_seconds_bucket", le="0.01") == 0
    assert value(m, "jobstream_fetch_duration_seconds_bucket", le="0.025") == len(fetches)


def test_label_values() -> None:
    assert (fetch_result(200), fetch_result(302), fetch_result(404), fetch_result(503)) == (
        "2xx", "3xx", "4xx", "5xx",
    )  # fmt: skip
    assert fetch_result(None) == fetch_result(0) == fetch_result(700) == "error"
    assert (type_name(JobType.FULL_NOVEL_BATCH), type_name(999)) == ("full_novel_batch", "999")


def test_registries_share_nothing_and_reconnects_are_read_when_collected() -> None:
    a, b = Metrics(), Metrics()
    count = [0]
    a.track_reconnects(lambda: count[0])
    a.webhook_attempt("delivered")
    count[0] = 3
    assert value(a, "jobstream_webhook_deliveries_total", outcome="delivered") == 1
    assert value(b, "jobstream_webhook_deliveries_total", outcome="delivered") == 0
    assert value(a, "jobstream_nats_reconnects_total") == 3
    assert ("jobstream_nats_reconnects_total", ()) not in samples(b)
