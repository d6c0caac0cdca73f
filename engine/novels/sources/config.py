"""The operator's source configuration: a JSON file read once when a process starts.

Shape (both keys optional)::

    {"bindings": {"novelfull": ["readnovelfull.com", "127.0.0.1:8123"]},
     "selectors": [{"name": "tales", "hosts": ["tales.example"], "title": "h1", ...}]}

``bindings`` points hosts at a source by name (a built-in theme, a plugin, or one of the
``selectors``); ``selectors`` are declarative sources (:class:`SelectorsConfig`). The file
is decoded strictly: an unknown key, a wrong type, a selector that does not parse, an
invalid host or a binding to a source nobody registered is a :class:`SourcesFileError`
whose one-line message names the file and the field, so a process refuses to start rather
than run with half a configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Annotated

import msgspec

from engine.novels.errors import InvalidSourceConfig, NovelError
from engine.novels.hosts import host_key
from engine.novels.sources.registry import Registry, build_registry
from engine.novels.sources.selectors import SelectorsConfig, check_config

Host = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
MAX_FILE_BYTES = 1024 * 1024  # a configuration, not a data set
_NAMED = re.compile(r"(?:missing required|unknown) field `([^`]+)`")


class SourcesConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Hosts bound to source names, and declarative sources."""

    bindings: dict[str, tuple[Host, ...]] = {}
    selectors: tuple[SelectorsConfig, ...] = ()


class SourcesFileError(NovelError):
    """The sources file cannot be used; ``field`` names the offending part (None: the file
    as a whole). The message is one line: ``<path>: <field>: <problem>``."""

    def __init__(self, path: Path, detail: str, *, field: str | None) -> None:
        where = f"{path}: {field}" if field else str(path)
        super().__init__(f"sources file {where}: {detail}")
        self.field = field


def read_sources_file(path: Path) -> SourcesConfig:
    """The checked configuration in ``path``; SourcesFileError naming the field."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourcesFileError(path, f"cannot be read ({e.strerror or e})", field=None) from e
    if len(data) > MAX_FILE_BYTES:
        raise SourcesFileError(path, f"larger than {MAX_FILE_BYTES} bytes", field=None)
    try:
        config = msgspec.json.decode(data, type=SourcesConfig)
    except msgspec.ValidationError as e:
        message = _binding_error(data) or str(e)
        raise SourcesFileError(path, _problem(message), field=_field(message)) from e
    except msgspec.DecodeError as e:
        raise SourcesFileError(path, f"not valid JSON ({e})", field=None) from e
    _check(path, config)
    return config


def _binding_error(data: bytes) -> str | None:
    """The error of the first invalid binding, its path naming the source (msgspec says
    `$.bindings[...]` for a map's values); None when the bindings are fine."""
    bindings = msgspec.json.decode(data)
    if not isinstance(bindings, dict) or not isinstance(bindings.get("bindings"), dict):
        return None
    for name, hosts in bindings["bindings"].items():
        try:
            msgspec.convert(hosts, tuple[Host, ...])
        except msgspec.ValidationError as e:
            problem, _, at = str(e).partition(" - at `$")
            return f"{problem} - at `$.bindings.{name}{at.rstrip('`')}`"
    return None


def _check(path: Path, config: SourcesConfig) -> None:
    """Selectors that parse and hosts that are hosts, each error naming its field."""
    for i, selectors in enumerate(config.selectors):
        try:
            check_config(selectors)
        except InvalidSourceConfig as e:
            field = f"selectors[{i}]" + (f".{e.field}" if e.field else "")
            raise SourcesFileError(path, e.detail, field=field) from e
    for name, hosts in config.bindings.items():
        for j, host in enumerate(hosts):
            try:
                host_key(host)
            except NovelError as e:
                raise SourcesFileError(path, str(e), field=f"bindings.{name}[{j}]") from e


def _problem(message: str) -> str:
    """A msgspec error without its "- at `$...`" suffix (the field is said apart)."""
    return message.partition(" - at `$")[0]


def _field(message: str) -> str | None:
    """The field a msgspec error is about: ``selectors[0].title`` from "Object missing
    required field `title` - at `$.selectors[0]`"; None for the document as a whole."""
    head, sep, path = message.partition(" - at `$")
    path = path.rstrip("`").lstrip(".") if sep else ""
    named = _NAMED.search(head)
    if named is None:
        return path or None
    return f"{path}.{named.group(1)}" if path else named.group(1)


def load_registry(path: Path | None, *, plugins: Iterable[EntryPoint] | None = None) -> Registry:
    """The registry of the built-ins, the installed plugins (or ``plugins``), and the
    configuration in ``path`` (none: no file). SourcesFileError for a file that cannot be
    used, a binding to a name no source has included."""
    if path is None:
        return build_registry(plugins=plugins)
    config = read_sources_file(path)
    registry = build_registry(plugins=plugins, configs=config.selectors)
    for name, hosts in config.bindings.items():
        try:
            registry.bind(name, hosts)
        except NovelError as e:
            raise SourcesFileError(path, str(e), field=f"bindings.{name}") from e
    return registry
