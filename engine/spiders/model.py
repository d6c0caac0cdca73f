"""A spider's definition: validated data that jobstream interprets, never code it runs.

`parse_definition` turns JSON (bytes or an already decoded dict) into a `SpiderDefinition`,
or raises InvalidCommand naming the offending field by its path, e.g.
`definition.rules[1].item.price.css`. `resolve_arguments` types a run's arguments against
the definition's declarations; `start_urls` fills the start URL templates with them.

Regular expressions are RE2 (linear time: a user's pattern cannot stall a worker); CSS
selectors are checked by the parser that later runs them (selectolax's lexbor).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

import msgspec
import re2
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from engine.crawl.errors import InvalidUrl
from engine.crawl.urls import parse_url
from engine.domain.errors import InvalidCommand
from engine.spiders.values import MAX_URL, spider_url, typed

MAX_RULES = 100
MAX_FIELDS = 100
MAX_START_URLS = 1000
MAX_ARGUMENTS = 50
MAX_FOLLOW = 50
MAX_ALLOWED_HOSTS = 100
MAX_PATTERN = 1000  # characters of one regular expression or CSS selector

NAME_PATTERN = "^[a-z0-9][a-z0-9-]{0,63}$"
_IDENT = "^[a-z_][a-z0-9_]{0,63}$"  # argument names: what `{placeholder}` may say
_FIELD_NAME = "^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
_ATTR = "^[A-Za-z_:][A-Za-z0-9_:.-]{0,63}$"
_MISSING = re2.compile(r"Object missing required field `([^`]+)`")
_PLACEHOLDER = re2.compile(r"\{([a-z_][a-z0-9_]*)\}")

Selector = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PATTERN)]
ArgType = Literal["string", "integer", "number", "boolean", "url"]


class ArgumentSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A declared argument: its type, whether a run must give it, its default otherwise."""

    type: ArgType = "string"
    required: bool = False
    default: Any = None


class FieldSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One field of an item: the first element `css` matches (every one with `all`), read
    as whitespace-collapsed text or its attribute `attr`, then as `type`."""

    css: Selector
    attr: Annotated[str, msgspec.Meta(pattern=_ATTR)] | None = None
    all: bool = False
    type: Literal["text", "number", "url"] = "text"
    required: bool = False


# A bare string is shorthand for FieldSpec(css=<the string>).
Field = Selector | FieldSpec
Fields = Annotated[dict[Annotated[str, msgspec.Meta(pattern=_FIELD_NAME)], Field],
                   msgspec.Meta(min_length=1, max_length=MAX_FIELDS)]  # fmt: skip


class ItemsSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One item per element `each` matches, its fields' selectors relative to that element."""

    each: Selector
    fields: Fields


class Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pages whose path and query `match` (searched, RE2): links to `follow`, an `item` of
    the page or its `items`."""

    match: Annotated[str, msgspec.Meta(max_length=MAX_PATTERN)]
    follow: Annotated[list[Selector], msgspec.Meta(max_length=MAX_FOLLOW)] = []
    item: Fields | None = None
    items: ItemsSpec | None = None


class SpiderDefinition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a spider crawls and extracts; see docs/decisions.md ("Spiders are data").

    Every part is immutable and refuses unknown keys (a typo is an error, not ignored)."""

    name: Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    arguments: Annotated[
        dict[Annotated[str, msgspec.Meta(pattern=_IDENT)], ArgumentSpec],
        msgspec.Meta(max_length=MAX_ARGUMENTS),
    ] = {}
    start_urls: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL)]],
        msgspec.Meta(min_length=1, max_length=MAX_START_URLS),
    ]
    rules: Annotated[list[Rule], msgspec.Meta(min_length=1, max_length=MAX_RULES)]
    allowed_hosts: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=253)]],
        msgspec.Meta(max_length=MAX_ALLOWED_HOSTS),
    ] = []


def field_spec(field: Field) -> FieldSpec:
    """The full form of a field (a bare selector string is its `css`)."""
    return FieldSpec(css=field) if isinstance(field, str) else field


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any:
    """The RE2 program of `pattern` (cached: every page of a run tries the same rules);
    re2.error when it is not one (not logged: the caller reports it)."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def to_builtins(d: SpiderDefinition) -> dict[str, Any]:
    """The definition as JSON-ready data (what a job's params keep as its snapshot)."""
    data: dict[str, Any] = msgspec.to_builtins(d)
    return data


# -- parsing -------------------------------------------------------------------


def parse_definition(data: bytes | dict[str, Any]) -> SpiderDefinition:
    """The validated definition in `data`; InvalidCommand naming the first bad field.

    Checks, beyond the shapes: every `match` compiles as RE2, every CSS selector parses,
    rules have `item` or `items`, not both, placeholders in `start_urls` name declared
    arguments, a start URL without placeholders is an http(s) URL, defaults fit their
    argument's type, `allowed_hosts` are host names. Bounds: MAX_RULES rules, MAX_FIELDS
    fields per item, MAX_START_URLS start URLs, MAX_ARGUMENTS arguments.
    """
    raw = _decoded(data)
    _check_nested(raw)
    try:
        d = msgspec.convert(raw, SpiderDefinition)
    except msgspec.ValidationError as e:
        raise _invalid(e, "definition") from None
    _check_rules(d)
    _check_arguments(d)
    _check_start_urls(d)
    _check_hosts(d)
    return d


def _decoded(data: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = msgspec.json.decode(data)
        except msgspec.DecodeError as e:
            raise InvalidCommand(f"not JSON: {e}", field="definition") from None
    if not isinstance(data, dict):
        raise InvalidCommand("a definition is a JSON object", field="definition")
    return data


def _invalid(error: msgspec.ValidationError, prefix: str) -> InvalidCommand:
    """msgspec's "<message> - at `$.a[0].b`" as InvalidCommand(field="<prefix>.a[0].b")."""
    message, _, where = str(error).partition(" - at `")
    if where.startswith("key` in `$"):  # a map's key: the map is named
        message, where = f"a key: {message}", where.removeprefix("key` in `")
    field = prefix + where.removeprefix("$").rstrip("`")
    missing = _MISSING.fullmatch(message)
    if missing is not None:  # the missing field is named, not the object lacking it
        return InvalidCommand("a required field is missing", field=f"{field}.{missing.group(1)}")
    return InvalidCommand(message, field=field)


def _convert_at(value: Any, kind: Any, path: str) -> None:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError as e:
        raise _invalid(e, path) from None


def _check_nested(raw: dict[str, Any]) -> None:
    """Validate the values of the definition's maps one by one first, so that an error in
    one names its key (msgspec reports a map's values only as `[...]`)."""
    arguments = raw.get("arguments")
    if isinstance(arguments, dict):
        for name, spec in arguments.items():
            _convert_at(spec, ArgumentSpec, f"definition.arguments.{name}")
    rules = raw.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            continue
        if isinstance(rule.get("item"), dict):
            _check_fields(rule["item"], f"definition.rules[{i}].item")
        items = rule.get("items")
        if isinstance(items, dict) and isinstance(items.get("fields"), dict):
            _check_fields(items["fields"], f"definition.rules[{i}].items.fields")


def _check_fields(fields: dict[str, Any], path: str) -> None:
    for name, field in fields.items():
        _convert_at(field, Field, f"{path}.{name}")


_PROBE = LexborHTMLParser("<p></p>")


def selector_problem(selector: str) -> str | None:
    """Why `selector` is not a CSS selector the extractor can run, or None if it is."""
    try:
        _PROBE.css(selector)
    except (SelectolaxError, ValueError) as e:
        return f"not a CSS selector: {e}"
    return None


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression RE2 runs, or None if it is."""
    try:
        compiled(pattern)
    except re2.error as e:
        why = e.args[0] if e.args else e
        text = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        return f"not a regular expression (RE2): {text}"
    return None


def _check_selector(selector: str, field: str) -> None:
    problem = selector_problem(selector)
    if problem is not None:
        raise InvalidCommand(f"{problem} ({selector!r})", field=field)


def _check_rules(d: SpiderDefinition) -> None:
    for i, rule in enumerate(d.rules):
        at = f"definition.rules[{i}]"
        problem = regex_problem(rule.match)
        if problem is not None:
            raise InvalidCommand(problem, field=f"{at}.match")
        for j, selector in enumerate(rule.follow):
            _check_selector(selector, f"{at}.follow[{j}]")
        if rule.item is not None and rule.items is not None:
            raise InvalidCommand("a rule has `item` or `items`, not both", field=f"{at}.items")
        if rule.item is not None:
            _check_field_selectors(rule.item, f"{at}.item")
        if rule.items is not None:
            _check_selector(rule.items.each, f"{at}.items.each")
            _check_field_selectors(rule.items.fields, f"{at}.items.fields")


def _check_field_selectors(fields: dict[str, Field], path: str) -> None:
    for name, field in fields.items():
        suffix = "" if isinstance(field, str) else ".css"
        _check_selector(field_spec(field).css, f"{path}.{name}{suffix}")


def _check_arguments(d: SpiderDefinition) -> None:
    for name, spec in d.arguments.items():
        if spec.default is not None:
            try:
                typed(spec.type, spec.default)
            except ValueError as e:
                raise InvalidCommand(
                    f"default does not fit type {spec.type}: {e}",
                    field=f"definition.arguments.{name}.default",
                ) from None


def _check_start_urls(d: SpiderDefinition) -> None:
    for i, template in enumerate(d.start_urls):
        at = f"definition.start_urls[{i}]"
        names = placeholders(template)
        unknown = [n for n in names if n not in d.arguments]
        if unknown:
            raise InvalidCommand(
                f"placeholder {{{unknown[0]}}} is not a declared argument", field=at
            )
        if not names:
            try:
                spider_url(template)
            except InvalidUrl as e:
                raise InvalidCommand(str(e), field=at) from None


def _check_hosts(d: SpiderDefinition) -> None:
    for i, host in enumerate(d.allowed_hosts):
        try:
            parsed = urlsplit(parse_url(f"http://{host}/"))
        except InvalidUrl as e:
            raise InvalidCommand(str(e), field=f"definition.allowed_hosts[{i}]") from None
        if parsed.hostname != host.lower() or parsed.port is not None:
            raise InvalidCommand("a host name, without port or path",
                                 field=f"definition.allowed_hosts[{i}]")  # fmt: skip


def placeholders(template: str) -> list[str]:
    """The argument names `{name}` in a start URL template, in order."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


# -- arguments -----------------------------------------------------------------


def resolve_arguments(d: SpiderDefinition, given: dict[str, Any]) -> dict[str, Any]:
    """A run's arguments, typed, defaults filled in; InvalidCommand(field="arguments.<name>")
    for an undeclared, ill-typed or missing required argument, or one a start URL needs."""
    for name in given:
        if name not in d.arguments:
            raise InvalidCommand(f"{name!r} is not an argument of spider {d.name}",
                                 field=f"arguments.{name}")  # fmt: skip
    resolved: dict[str, Any] = {}
    for name, spec in d.arguments.items():
        value = given.get(name, spec.default)
        if value is None:
            if spec.required or any(name in placeholders(u) for u in d.start_urls):
                raise InvalidCommand(f"argument {name!r} is required", field=f"arguments.{name}")
            continue
        try:
            resolved[name] = typed(spec.type, value)
        except ValueError as e:
            raise InvalidCommand(f"argument {name!r}: {e}", field=f"arguments.{name}") from None
    return resolved


def start_urls(d: SpiderDefinition, args: dict[str, Any]) -> list[str]:
    """The start URLs with `args` (resolved) filled in, canonical, without duplicates.

    A `url` argument goes in as it is; any other value percent-encoded (a path segment or
    a query value). InvalidCommand(field="arguments.<name>") when a filled-in template is
    not an http(s) URL (the first placeholder's argument is named).
    """
    urls: dict[str, None] = {}
    for template in d.start_urls:
        names = placeholders(template)
        filled = _PLACEHOLDER.sub(lambda m: _filled(d, args, m.group(1)), template)
        try:
            urls.setdefault(spider_url(filled), None)
        except InvalidUrl as e:
            raise InvalidCommand(str(e), field=f"arguments.{names[0]}" if names else
                                 "definition.start_urls") from None  # fmt: skip
    return list(urls)


def _filled(d: SpiderDefinition, args: dict[str, Any], name: str) -> str:
    if name not in args:
        raise InvalidCommand(f"argument {name!r} is required", field=f"arguments.{name}")
    value = args[name]
    if d.arguments[name].type == "url":
        return str(value)
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return quote(text, safe="")
