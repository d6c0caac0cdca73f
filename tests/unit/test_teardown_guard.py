"""The test harness's teardown guard (tests/teardown_guard.py), run in an inner pytest: with
it, a fixture whose teardown is cancelled errors that test alone; without it, pytest hands
the broken test's tmp_path to the tests after it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# Fixtures whose teardown is cancelled (or raises a group holding a cancellation), then tests
# that must each get a tmp_path of their own.
SYNC = """
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

# The suite's own case: an async fixture (pytest-asyncio) whose teardown is cancelled.
ASYNC = """
import asyncio
import pytest

SEEN = []

@pytest.fixture
async def cancelled_on_teardown(tmp_path):
    yield tmp_path
    asyncio.current_task().cancel()
    await asyncio.sleep(0)

async def test_first(cancelled_on_teardown, tmp_path):
    SEEN.append(tmp_path)

async def test_second(tmp_path):
    assert tmp_path not in SEEN
"""

OPTIONS = {
    SYNC: ("-p", "no:asyncio"),
    ASYNC: ("-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"),
}


def _run(pytester: pytest.Pytester, source: str, *, guarded: bool) -> pytest.RunResult:
    pytester.makepyfile(source)
    plugin = ("-p", "tests.teardown_guard") if guarded else ()
    return pytester.runpytest_inprocess(*plugin, "-p", "no:cacheprovider", *OPTIONS[source])


@pytest.mark.parametrize(("source", "broken"), [(SYNC, 2), (ASYNC, 1)], ids=["sync", "async"])
def test_a_cancelled_teardown_errors_its_own_test_and_no_other(
    pytester: pytest.Pytester, source: str, broken: int
) -> None:
    result = _run(pytester, source, guarded=True)
    result.assert_outcomes(passed=broken + 1, errors=broken)
    result.stdout.fnmatch_lines(["*TeardownInterrupted: a fixture's teardown raised*"])


@pytest.mark.parametrize(("source", "broken"), [(SYNC, 2), (ASYNC, 1)], ids=["sync", "async"])
def test_without_the_guard_later_tests_inherit_the_broken_tests_tmp_path(
    pytester: pytest.Pytester, source: str, broken: int
) -> None:
    result = _run(pytester, source, guarded=False)
    result.assert_outcomes(passed=1, failed=broken, errors=broken)
