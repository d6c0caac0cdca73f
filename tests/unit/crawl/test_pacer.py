from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.frontier import HostPacer


def test_no_delay_means_no_wait() -> None:
    pacer = HostPacer()
    assert pacer.reserve("h", 10.0) == 0.0
    assert pacer.reserve("h", 10.0) == 0.0
    assert pacer.wait_time("h", 10.0) == 0.0


def test_reservations_are_spaced_by_delay() -> None:
    pacer = HostPacer(delay_s=0.5)
    waits = [pacer.reserve("h", 100.0) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert pacer.wait_time("h", 100.0) == pytest.approx(2.0)
    assert pacer.reserve("other", 100.0) == 0.0


def test_slot_frees_up_as_time_passes() -> None:
    pacer = HostPacer(delay_s=1.0)
    pacer.reserve("h", 0.0)
    assert pacer.wait_time("h", 0.4) == pytest.approx(0.6)
    assert pacer.reserve("h", 5.0) == 0.0


def test_crawl_delay_raises_interval_but_not_below_delay() -> None:
    pacer = HostPacer(delay_s=0.2)
    pacer.set_crawl_delay("h", 1.5)
    pacer.set_crawl_delay("g", 0.05)
    assert pacer.interval("h") == 1.5
    assert pacer.interval("g") == 0.2
    pacer.reserve("h", 0.0)
    assert pacer.reserve("h", 0.0) == pytest.approx(1.5)


def test_429_doubles_until_cap_then_success_decays_to_base() -> None:
    pacer = HostPacer(delay_s=1.0, max_delay_s=60.0)
    intervals = []
    for _ in range(8):
        pacer.on_status("h", 429)
        intervals.append(pacer.interval("h"))
    assert intervals == [2, 4, 8, 16, 32, 60, 60, 60]
    pacer.on_status("h", 200)
    assert pacer.interval("h") == 30
    for _ in range(10):
        pacer.on_status("h", 200)
    assert pacer.interval("h") == 1.0


def test_503_slows_down_from_zero_base() -> None:
    pacer = HostPacer()
    pacer.on_status("h", 503)
    assert pacer.interval("h") == 0.5
    pacer.on_status("h", 503)
    assert pacer.interval("h") == 1.0
    pacer.on_status("h", 200)
    assert pacer.interval("h") == 0.5
    pacer.on_status("h", 200)
    assert pacer.interval("h") == 0.0


def test_404_and_500_do_not_change_interval() -> None:
    pacer = HostPacer(delay_s=1.0)
    pacer.on_status("h", 404)
    pacer.on_status("h", 500)
    assert pacer.interval("h") == 1.0


@given(
    delay=st.floats(0, 5),
    events=st.lists(st.sampled_from([200, 404, 429, 503]), max_size=40),
)
def test_interval_stays_within_bounds(delay: float, events: list[int]) -> None:
    pacer = HostPacer(delay_s=delay, max_delay_s=60.0)
    for status in events:
        pacer.on_status("h", status)
        assert delay <= pacer.interval("h") <= max(60.0, delay)


@given(st.lists(st.floats(0, 100), min_size=1, max_size=30), st.floats(0.01, 3))
def test_reserved_slots_never_closer_than_interval(times: list[float], delay: float) -> None:
    pacer = HostPacer(delay_s=delay)
    starts = []
    for now in sorted(times):
        starts.append(now + pacer.reserve("h", now))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g >= delay - 1e-9 for g in gaps)
