"""A pytest plugin: a fixture whose teardown raises a BaseException that is not an Exception
(an `asyncio.CancelledError`, or a `BaseExceptionGroup` holding one) errors that test's
teardown and no other.

Without it, pytest stops tearing the test down at that finalizer: its setup state goes on
past Exceptions and pytest's own outcomes only. The fixtures set up before the failing one
are then never finished and keep their cached values, so every later test in the process is
handed the same `tmp_path` and the same nats-server as the test that failed, and fails for
that (a CI run once lost 169 tests to one teardown this way).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Generator
from typing import Any

import pytest

_CONTAINED = "_teardown_guarded"


class TeardownInterrupted(Exception):
    """A fixture's teardown raised a BaseException that is not an Exception."""


def contained(finalizer: Callable[[], object]) -> Callable[[], object]:
    """`finalizer`, raising TeardownInterrupted (from the original) where it would raise a
    cancellation or a group holding one; any other outcome passes unchanged."""
    if getattr(finalizer, _CONTAINED, False):
        return finalizer

    @functools.wraps(finalizer)
    def run() -> object:
        try:
            return finalizer()
        except (asyncio.CancelledError, BaseExceptionGroup) as e:
            if isinstance(e, Exception):
                raise
            raise TeardownInterrupted(f"a fixture's teardown raised {e!r}") from e

    setattr(run, _CONTAINED, True)
    return run


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None]:
    """Every finalizer a fixture's setup registered (its teardown among them) is contained."""
    try:
        return (yield)
    finally:
        fixturedef._finalizers[:] = [contained(f) for f in fixturedef._finalizers]
