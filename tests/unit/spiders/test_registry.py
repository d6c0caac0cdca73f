"""Installed spiders: entry points loaded and validated; broken ones left out, logged."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from engine.spiders.model import SpiderDefinition, parse_definition
from engine.spiders.registry import ENTRY_POINT_GROUP, installed_spiders
from tests.sites.shop import load_definition

SHOP = parse_definition(load_definition())
AS_DICT: dict[str, Any] = {**load_definition(), "name": "shop-dict"}
INVALID: dict[str, Any] = {**load_definition(), "name": "Bad Name"}
UNCHECKED = SpiderDefinition(name="unchecked", start_urls=["ftp://x"], rules=[])


def made() -> dict[str, Any]:
    return {**load_definition(), "name": "made"}


def broken() -> SpiderDefinition:
    raise RuntimeError("boom")


def _point(attr: str, name: str = "p") -> EntryPoint:
    return EntryPoint(name=name, value=f"{__name__}:{attr}", group=ENTRY_POINT_GROUP)


def test_definitions_dicts_and_functions_load_by_their_name() -> None:
    found = installed_spiders([_point("SHOP"), _point("AS_DICT"), _point("made")])
    assert sorted(found) == ["made", "shop", "shop-dict"]
    assert found["shop"] == SHOP
    assert found["made"].rules == SHOP.rules


def test_broken_or_invalid_plugins_are_logged_and_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    points = [_point("INVALID"), _point("UNCHECKED"), _point("broken"), _point("NOWHERE"),
              _point("SHOP")]  # fmt: skip
    assert list(installed_spiders(points)) == ["shop"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 4
    assert "definition.name" in errors[0] and "definition.rules" in errors[1]
    assert "RuntimeError: boom" in errors[2] and "AttributeError" in errors[3]


def test_nothing_installed_gives_no_spiders() -> None:
    assert installed_spiders([]) == {}
    assert isinstance(installed_spiders(), dict)  # the real group: whatever is installed
