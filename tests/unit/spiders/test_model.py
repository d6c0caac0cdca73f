"""Spider definitions: every invalid part is refused naming its path; arguments typed."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.errors import InvalidCommand
from engine.spiders.model import (
    MAX_FIELDS,
    MAX_RULES,
    MAX_START_URLS,
    FieldSpec,
    parse_definition,
    resolve_arguments,
    start_urls,
    to_builtins,
)
from tests.sites.shop import load_definition


def _minimal(**over: Any) -> dict[str, Any]:
    return {"name": "s", "start_urls": ["https://shop.test/"], "rules": [{"match": "/"}], **over}


def _field_of(data: dict[str, Any]) -> str:
    with pytest.raises(InvalidCommand) as caught:
        parse_definition(data)
    return caught.value.field


def test_the_shop_definition_parses_and_round_trips() -> None:
    d = parse_definition(json.dumps(load_definition()).encode())
    assert d.name == "shop"
    assert d.rules[1].item is not None
    assert d.rules[1].item["price"] == FieldSpec(css="p.price", type="number")
    assert parse_definition(to_builtins(d)) == d


# (a change to the shop definition, the field the refusal must name)
BAD_PARTS: list[tuple[str, Any, str]] = [
    ("name", "Shop", "definition.name"),
    ("name", "-shop", "definition.name"),
    ("name", "a" * 65, "definition.name"),
    ("rules[1].match", "(", "definition.rules[1].match"),
    ("rules[1].match", "(?=look)ahead", "definition.rules[1].match"),
    ("rules[0].follow[1]", "li.next a[", "definition.rules[0].follow[1]"),
    ("rules[1].item.price.css", "p..price", "definition.rules[1].item.price.css"),
    ("rules[1].item.price.type", "money", "definition.rules[1].item.price.type"),
    ("rules[1].item.price.colour", "red", "definition.rules[1].item.price"),
    ("rules[1].item.title", "h1 >", "definition.rules[1].item.title"),
    ("rules[1].item.title", 7, "definition.rules[1].item.title"),
    ("rules[1].item.cover.attr", "s rc", "definition.rules[1].item.cover.attr"),
    ("rules[2].items.each", "::", "definition.rules[2].items.each"),
    ("rules[2].items.fields.name", "", "definition.rules[2].items.fields.name"),
    ("rules[2].item", {"x": "h1"}, "definition.rules[2].items"),
    ("start_urls[0]", "{begin}", "definition.start_urls[0]"),
    ("start_urls[0]", "ftp://shop.test/", "definition.start_urls[0]"),
    ("arguments.start.type", "uri", "definition.arguments.start.type"),
    ("arguments.lang.default", 3, "definition.arguments.lang.default"),
    ("arguments.Bad", {"type": "string"}, "definition.arguments"),
    ("allowed_hosts", ["cdn.shop.test/img"], "definition.allowed_hosts[0]"),
    ("unknown", 1, "definition"),
]


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at a path like `rules[1].item.price` (a shorthand field on the way gets
    its full form)."""
    steps: list[Any] = [int(t) if t.isdigit() else t for t in re.findall(r"[^.\[\]]+", path)]
    target: Any = data
    for step in steps[:-1]:
        if isinstance(target[step], str):
            target[step] = {"css": target[step]}
        target = target[step]
    target[steps[-1]] = value


@pytest.mark.parametrize(("path", "value", "field"), BAD_PARTS)
def test_an_invalid_part_is_refused_naming_its_path(path: str, value: Any, field: str) -> None:
    data = copy.deepcopy(load_definition())
    _set(data, path, value)
    assert _field_of(data) == field


def test_bounds_are_refused_by_field() -> None:
    too_many_rules = [{"match": "/"}] * (MAX_RULES + 1)
    assert _field_of(_minimal(rules=too_many_rules)) == "definition.rules"
    urls = [f"https://shop.test/{i}" for i in range(MAX_START_URLS + 1)]
    assert _field_of(_minimal(start_urls=urls)) == "definition.start_urls"
    fields = {f"f{i}": "p" for i in range(MAX_FIELDS + 1)}
    assert _field_of(_minimal(rules=[{"match": "/", "item": fields}])) == "definition.rules[0].item"
    assert _field_of(_minimal(start_urls=[])) == "definition.start_urls"


def test_a_missing_required_field_is_named_itself() -> None:
    assert _field_of({"name": "s", "rules": [{"match": "/"}]}) == "definition.start_urls"
    assert _field_of(_minimal(rules=[{"follow": ["a"]}])) == "definition.rules[0].match"
    item = {"match": "/", "items": {"each": "li", "fields": {"p": {"attr": "href"}}}}
    assert _field_of(_minimal(rules=[item])) == "definition.rules[0].items.fields.p.css"


def test_not_json_or_not_an_object_is_refused_as_the_definition() -> None:
    assert _field_of(b"{") == "definition"  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand) as caught:
        parse_definition(b"[1]")
    assert caught.value.field == "definition"


@given(st.text(max_size=30))
def test_any_name_is_accepted_exactly_when_it_fits_the_pattern(name: str) -> None:
    fits = (
        0 < len(name) <= 64
        and name[0] in "abcdefghijklmnopqrstuvwxyz0123456789"
        and all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in name)
    )
    try:
        parse_definition(_minimal(name=name))
    except InvalidCommand as e:
        assert e.field == "definition.name"
        assert not fits
    else:
        assert fits


# -- arguments ------------------------------------------------------------------


def _typed_spider() -> Any:
    return parse_definition(
        _minimal(
            arguments={
                "start": {"type": "url", "required": True},
                "n": {"type": "integer", "default": 2},
                "x": {"type": "number"},
                "on": {"type": "boolean", "default": False},
                "q": {"type": "string", "default": "a b/c"},
            },
            start_urls=["{start}", "https://shop.test/s?q={q}&n={n}"],
        )
    )


@given(st.integers(-(10**12), 10**12), st.booleans())
def test_integers_are_typed_from_json_or_text(n: int, as_text: bool) -> None:
    args = resolve_arguments(
        _typed_spider(), {"start": "https://a.test", "n": str(n) if as_text else n}
    )
    assert args["n"] == n and type(args["n"]) is int


@given(st.floats(allow_nan=False, allow_infinity=False), st.booleans())
def test_numbers_are_typed_from_json_or_text(x: float, as_text: bool) -> None:
    args = resolve_arguments(
        _typed_spider(), {"start": "https://a.test", "x": repr(x) if as_text else x}
    )
    assert args["x"] == x


@pytest.mark.parametrize(
    ("given_args", "field"),
    [
        ({}, "arguments.start"),
        ({"start": "not a url"}, "arguments.start"),
        ({"start": "ftp://a.test/"}, "arguments.start"),
        ({"start": "https://a.test", "n": "two"}, "arguments.n"),
        ({"start": "https://a.test", "n": True}, "arguments.n"),
        ({"start": "https://a.test", "n": 1.5}, "arguments.n"),
        ({"start": "https://a.test", "x": "NaN"}, "arguments.x"),
        ({"start": "https://a.test", "on": "maybe"}, "arguments.on"),
        ({"start": "https://a.test", "q": 5}, "arguments.q"),
        ({"start": "https://a.test", "extra": 1}, "arguments.extra"),
    ],
)
def test_bad_arguments_are_refused_naming_them(given_args: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        resolve_arguments(_typed_spider(), given_args)
    assert caught.value.field == field


def test_defaults_apply_and_start_urls_are_filled_in() -> None:
    d = _typed_spider()
    args = resolve_arguments(d, {"start": "HTTPS://A.test/x/#top", "on": "yes"})
    assert args == {"start": "https://a.test/x/", "n": 2, "on": True, "q": "a b/c"}
    assert start_urls(d, args) == ["https://a.test/x/", "https://shop.test/s?q=a%20b%2Fc&n=2"]


def test_an_argument_a_start_url_needs_is_required_even_if_not_declared_so() -> None:
    d = parse_definition(_minimal(arguments={"q": {"type": "string"}},
                                  start_urls=["https://shop.test/s?q={q}"]))  # fmt: skip
    with pytest.raises(InvalidCommand) as caught:
        resolve_arguments(d, {})
    assert caught.value.field == "arguments.q"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_PATHS = [
    "name", "description", "arguments", "arguments.start", "arguments.start.type",
    "arguments.lang.default", "start_urls", "start_urls[0]", "rules", "rules[0]",
    "rules[0].match", "rules[0].follow", "rules[0].follow[0]", "rules[1].item",
    "rules[1].item.price", "rules[1].item.price.css", "rules[1].item.cover.attr",
    "rules[1].item.tags.all", "rules[2].items", "rules[2].items.each", "rules[2].items.fields",
    "allowed_hosts", "extra",
]  # fmt: skip


@given(st.sampled_from(_PATHS), _json)
def test_any_value_anywhere_is_accepted_or_refused_with_a_field(path: str, value: Any) -> None:
    """Never an error other than InvalidCommand (the API's 422), whose field is a path into
    the definition."""
    data = copy.deepcopy(load_definition())
    _set(data, path, value)
    try:
        d = parse_definition(data)
    except InvalidCommand as e:
        assert e.field == "definition" or e.field.startswith(("definition.", "definition["))
    else:
        assert parse_definition(to_builtins(d)) == d


@given(st.dictionaries(st.sampled_from(["start", "n", "x", "on", "q", "zz"]), _json, max_size=5))
def test_any_arguments_are_typed_or_refused_naming_one(given_args: dict[str, Any]) -> None:
    d = _typed_spider()
    try:
        args = resolve_arguments(d, given_args)
    except InvalidCommand as e:
        assert e.field.removeprefix("arguments.") in {*given_args, "start"}
    else:
        kinds = {"start": str, "n": int, "x": float, "on": bool, "q": str}
        assert all(type(v) is kinds[k] for k, v in args.items())
        assert len(start_urls(d, args)) == 2
