"""The test harness's teardown guard (tests/teardown_guard.py), run in an inner pytest."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]
QUIET = ("-p", "no:cacheprovider", "-p", "no:asyncio")  # the inner tests need neither

# A fixture whose teardown is cancelled, then a test that must get a tmp_path of its own.
INNER = """
import asyncio
import pytest

SEEN = []

@pytest.fixture
def cancelled_on_teardown(tmp_path):
    yield tmp_path
    raise asyncio.CancelledError

@pytest.fixture
def grouped_on_teardown():
    yield
    raise BaseExceptionGroup("stop", [asyncio.CancelledError(), ValueError()])

def test_first(cancelled_on_teardown, tmp_path):
    SEEN.append(tmp_path)

def test_second(grouped_on_teardown, tmp_path):
    assert tmp_path not in SEEN
    SEEN.append(tmp_path)

def test_third(tmp_path):
    assert tmp_path not in SEEN
"""


def test_a_cancelled_teardown_errors_its_own_test_and_no_other(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER)
    result = pytester.runpytest_inprocess("-p", "tests.teardown_guard", *QUIET)
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["*TeardownInterrupted: a fixture's teardown raised*"])


def test_without_the_guard_later_tests_inherit_the_broken_tests_fixtures(
    pytester: pytest.Pytester,
) -> None:
    """What the guard is for: pytest alone hands the next test the same tmp_path."""
    pytester.makepyfile(INNER)
    result = pytester.runpytest_inprocess(*QUIET)
    result.assert_outcomes(passed=1, failed=2, errors=2)
