"""Which source reads a URL: sources by name, hosts bound to names.

A registry is built once, explicitly (:func:`build_registry`), from three places, later
ones replacing earlier ones of the same name (logged): the built-in themes, the Python
sources operators install as packages declaring an entry point in the group
``jobstream.sources``, and declarative :class:`SelectorsConfig`\\s; then the operator's
bindings of hosts to source names (``{"novelfull": ["readnovelfull.com"]}``). Nothing is
downloaded: a plugin is code the operator installed, loaded when the registry is built,
never when this module is imported.

Hosts are matched exactly on :func:`engine.novels.hosts.host_key` (lower case, IDNA,
``www.`` dropped, port kept). A host claimed twice goes to the later claim (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Literal

import msgspec

from engine.novels.errors import NoSource, NovelError
from engine.novels.hosts import host_key
from engine.novels.sources.base import Source
from engine.novels.sources.madara import MadaraSource
from engine.novels.sources.novelfull import NovelFullSource
from engine.novels.sources.selectors import SelectorsConfig, SelectorsSource

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "jobstream.sources"
Origin = Literal["builtin", "plugin", "config"]


class SourceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A registered source as an operator sees it: its name, the host keys routed to it,
    and where it came from."""

    name: str
    hosts: tuple[str, ...]
    origin: Origin


class Registry:
    """Sources by name and host keys bound to source names."""

    def __init__(self) -> None:
        self._sources: dict[str, tuple[Source, Origin]] = {}
        self._hosts: dict[str, str] = {}

    def add(self, source: Source, origin: Origin) -> None:
        """Register ``source`` and route the hosts it claims to it. Replaces a source of the
        same name. Raises InvalidNovelUrl, registering nothing, if a host is invalid."""
        keys = [host_key(host) for host in source.hosts]
        previous = self._sources.get(source.name)
        if previous is not None:
            log.warning("source %r (%s) replaces the %s one", source.name, origin, previous[1])
        self._sources[source.name] = (source, origin)
        self._route(source.name, keys)

    def bind(self, name: str, hosts: Iterable[str]) -> None:
        """Route ``hosts`` to the source called ``name``: how an operator points a theme at a
        site. Raises NoSource for an unknown name, InvalidNovelUrl for an invalid host."""
        self.named(name)
        self._route(name, [host_key(host) for host in hosts])

    def _route(self, name: str, keys: Iterable[str]) -> None:
        for key in keys:
            previous = self._hosts.get(key)
            if previous is not None and previous != name:
                log.warning("host %s moves from source %r to %r", key, previous, name)
            self._hosts[key] = name

    def named(self, name: str) -> Source:
        """The source called ``name``; NoSource if there is none."""
        entry = self._sources.get(name)
        if entry is None:
            known = ", ".join(sorted(self._sources)) or "none"
            raise NoSource(f"no source is named {name!r} (known sources: {known})")
        return entry[0]

    def for_url(self, url: str, source: str | None = None) -> Source:
        """The source for ``url``: the one named ``source`` if given (for a host no source
        lists), else the one its host is bound to. Raises NoSource, saying how to add a
        source, or InvalidNovelUrl for a URL without a valid host."""
        if source is not None:
            return self.named(source)
        key = host_key(url)
        name = self._hosts.get(key)
        if name is None:
            raise NoSource(_no_source_message(key, sorted(self._sources)))
        return self.named(name)

    def describe(self) -> list[SourceInfo]:
        """Every source, by name."""
        return [
            SourceInfo(
                name=name,
                hosts=tuple(sorted(k for k, n in self._hosts.items() if n == name)),
                origin=origin,
            )
            for name, (_, origin) in sorted(self._sources.items())
        ]


def _no_source_message(key: str, names: Sequence[str]) -> str:
    return (
        f"no source for host {key!r}. To add one: bind the host to a theme that fits the "
        f"site (known sources: {', '.join(names) or 'none'}), describe the site with a "
        f"selectors source, or install a package declaring a source in the entry-point "
        f"group {ENTRY_POINT_GROUP!r}; or name a source explicitly with `source`."
    )


def builtin_sources() -> list[Source]:
    """The built-in themes; they claim no hosts (operators bind theirs)."""
    return [NovelFullSource(), MadaraSource()]


def load_plugins(points: Iterable[EntryPoint]) -> list[Source]:
    """The sources the entry points name, each a Source or a class or factory making one
    when called without arguments. A plugin that fails to import, to build, or to be a
    Source with valid hosts is logged and skipped; the others still load."""
    sources = []
    for point in points:
        try:
            sources.append(_plugin_source(point))
        except Exception:  # whatever a broken plugin raises, the others must load
            log.exception("source plugin %r (%s) is broken and is skipped", point.name, point.value)
    return sources


def _plugin_source(point: EntryPoint) -> Source:
    loaded = point.load()
    if isinstance(loaded, type) or (callable(loaded) and not isinstance(loaded, Source)):
        loaded = loaded()
    if not isinstance(loaded, Source):
        raise NovelError(f"{point.value} gives {type(loaded).__name__}, not a Source")
    if not isinstance(loaded.name, str) or not loaded.name:
        raise NovelError(f"{point.value} gives a source without a name")
    if isinstance(loaded.hosts, str) or not all(isinstance(h, str) for h in loaded.hosts):
        raise NovelError(f"{point.value} gives a source whose hosts are not strings")
    for host in loaded.hosts:
        host_key(host)
    return loaded


def build_registry(
    *,
    plugins: Iterable[EntryPoint] | None = None,
    configs: Iterable[SelectorsConfig] = (),
    bindings: Mapping[str, Sequence[str]] | None = None,
) -> Registry:
    """A registry of the built-in themes, the plugins (by default the installed entry points
    of the group ``jobstream.sources``), the selectors ``configs``, then ``bindings`` of
    source names to hosts. Raises NoSource for a binding to an unknown name and
    InvalidNovelUrl for an invalid host in a config or binding."""
    registry = Registry()
    for source in builtin_sources():
        registry.add(source, "builtin")
    points = entry_points(group=ENTRY_POINT_GROUP) if plugins is None else plugins
    for source in load_plugins(points):
        registry.add(source, "plugin")
    for config in configs:
        registry.add(SelectorsSource(config), "config")
    for name, hosts in (bindings or {}).items():
        registry.bind(name, hosts)
    return registry
