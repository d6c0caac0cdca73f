"""Spiders operators install as Python packages: entry points of the group `jobstream.spiders`.

Each entry point names a `SpiderDefinition`, a dict of one, or a function without arguments
returning either; it is validated like an uploaded definition (`parse_definition`). They are
code the operator installed, loaded when `installed_spiders` is called (at start-up), never
when this module is imported, and never anything sent over the API: the API lists them
read-only and runs them like any spider, from the definition they give.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from engine.domain.errors import InvalidCommand
from engine.spiders.model import SpiderDefinition, parse_definition, to_builtins

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "jobstream.spiders"


def installed_spiders(points: Iterable[EntryPoint] | None = None) -> dict[str, SpiderDefinition]:
    """The installed spiders by name: `points`, by default the entry points of the group
    ENTRY_POINT_GROUP. One that fails to load or is not a valid definition is logged and
    left out (a broken package must not keep the server from starting); of two with one
    name, the later is kept (logged)."""
    found: dict[str, SpiderDefinition] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP) if points is None else points:
        d = _load(point)
        if d is None:
            continue
        if d.name in found:
            log.warning("spider plugin %s replaces another spider named %r", point.value, d.name)
        found[d.name] = d
    return found


def _load(point: EntryPoint) -> SpiderDefinition | None:
    try:
        value = point.load()
        if callable(value) and not isinstance(value, SpiderDefinition):
            value = value()
        return _definition(value)
    except InvalidCommand as e:
        log.error("spider plugin %s is not valid: %s: %s", point.value, e.field, e)
    except Exception as e:  # an operator's package: whatever it raises, the server goes on
        log.error("spider plugin %s cannot be loaded: %s: %s", point.value, type(e).__name__, e)
    return None


def _definition(value: Any) -> SpiderDefinition:
    """`value` validated as a definition (a SpiderDefinition too: it may have been built
    without the checks `parse_definition` makes)."""
    if isinstance(value, SpiderDefinition):
        value = to_builtins(value)
    if not isinstance(value, dict):
        raise InvalidCommand(f"a definition, not {type(value).__name__}", field="definition")
    return parse_definition(value)
