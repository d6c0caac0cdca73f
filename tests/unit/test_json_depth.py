"""`nesting_depth_exceeds` against the nesting depth of the decoded value, for any JSON."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from api.json_depth import MAX_DEPTH, nesting_depth_exceeds

# Strings full of what the scan must not count: brackets, quotes and backslashes.
_TRICKY = st.text(alphabet='[]{}"\\,:ab \n\u00e9', max_size=8)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TRICKY
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3),
    max_leaves=40,
)


def depth(value: Any) -> int:
    """How many arrays and objects `value` nests, itself included."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def nested(levels: int, wrap: str) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value] if wrap == "array" else {"a": value}
    return value


@given(_VALUES, st.integers(0, 6), st.booleans())
def test_the_scan_agrees_with_the_decoded_depth(value: Any, limit: int, spaced: bool) -> None:
    text = json.dumps(value, indent=1 if spaced else None).encode()
    assert nesting_depth_exceeds(text, limit) == (depth(value) > limit)


@given(st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3), st.sampled_from(["array", "object"]))
def test_the_limit_is_exclusive(levels: int, wrap: str) -> None:
    body = msgspec.json.encode(nested(levels, wrap))
    assert nesting_depth_exceeds(body) == (levels > MAX_DEPTH)


def test_brackets_inside_strings_do_not_count() -> None:
    brackets = "[" * 1000 + "{" * 1000
    assert not nesting_depth_exceeds(json.dumps({"urls": [brackets, '\\"' + brackets]}).encode())
    escaped = json.dumps(["\\", "[" * 100]).encode()  # a string ending in a backslash
    assert not nesting_depth_exceeds(escaped)


def test_depth_spread_over_scan_chunks_is_counted() -> None:
    """The scan works in 64 KiB chunks: a nest that opens in one and goes on in the next."""
    body = b"[" + b"[0]," * 40_000 + b"[" * 70 + b"]" * 70 + b"]"
    assert nesting_depth_exceeds(body)
    assert not nesting_depth_exceeds(b"[" + b"[0]," * 40_000 + b"[" * 60 + b"]" * 61)
