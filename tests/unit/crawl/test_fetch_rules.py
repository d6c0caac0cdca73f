"""Pure parts of the fetcher: header interpretation and retry timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.fetcher import (
    FetchSettings,
    backoff_delay,
    cache_hit_from,
    is_html,
)
from engine.net.retry import parse_retry_after

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1.0),
        (" 120 ", 120.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_is_capped() -> None:
    settings = FetchSettings(backoff_max_s=30)
    assert backoff_delay(0, settings, 3600.0) == 30
    assert backoff_delay(0, settings, 1.0) == 1.0


@given(st.integers(0, 20), st.floats(0.01, 2), st.floats(0.1, 60))
def test_exponential_backoff_bounds(attempt: int, base: float, cap: float) -> None:
    settings = FetchSettings(backoff_base_s=base, backoff_max_s=cap)
    ceiling = min(cap, base * 2**attempt)
    assert ceiling / 2 <= backoff_delay(attempt, settings, None) <= ceiling


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"x-cache": "HIT, MISS"}, True),
        ({"x-cache": "Hit from cloudfront"}, True),
        ({"x-cache": "MISS"}, False),
        ({"cf-cache-status": "HIT"}, True),
        ({"cf-cache-status": "DYNAMIC"}, False),
        ({"age": "30"}, True),
        ({"age": "0"}, False),
        ({"age": "bogus"}, False),
        ({"x-cache": "MISS", "age": "12"}, True),
    ],
)
def test_cache_hit_from(headers: dict[str, str], expected: bool | None) -> None:
    assert cache_hit_from(headers) is expected


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html", True),
        ("Text/HTML; charset=utf-8", True),
        ("application/xhtml+xml", True),
        ("application/pdf", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_is_html(content_type: str | None, expected: bool) -> None:
    assert is_html(content_type) is expected


def test_default_settings() -> None:
    s = FetchSettings()
    assert (s.timeout_s, s.max_bytes, s.max_redirects, s.retries) == (20, 10 * 1024 * 1024, 10, 3)
    assert (s.backoff_base_s, s.backoff_max_s, s.allow_private) == (0.5, 30, False)
