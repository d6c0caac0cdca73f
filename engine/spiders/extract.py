"""One page through a spider's rules: its items and the links to follow. Pure, no I/O.

The first rule whose `match` is found (RE2 search) in the page URL's path and query
applies; a page no rule matches yields nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any
from urllib.parse import urljoin, urlsplit

import msgspec
from selectolax.lexbor import LexborHTMLParser, LexborNode

from engine.crawl.errors import InvalidUrl
from engine.spiders.model import (
    Field,
    FieldSpec,
    Rule,
    SpiderDefinition,
    compiled,
    field_spec,
)
from engine.spiders.values import spider_url

# Bounds on what one page may yield (a huge listing must not make one huge page event).
MAX_ITEMS_PER_PAGE = 1000
MAX_LINKS_PER_PAGE = 5000
# Bounds on one field's value: characters of a text (cut beyond), values of an `all` list
# (the first ones kept); and on one item, encoded, so that it always fits one event.
MAX_TEXT = 20_000
MAX_VALUES = 200
MAX_ITEM_BYTES = 512 * 1024
_encode = msgspec.json.Encoder().encode
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")
_NOT_LINKS = ("javascript:", "mailto:", "tel:", "data:")


class PageYield(msgspec.Struct, frozen=True, kw_only=True):
    """What one page gave: `items` in page order, `links` to follow (absolute, canonical,
    in scope, without duplicates), `dropped` items that missed a required field,
    `oversized` items left out for being over MAX_ITEM_BYTES encoded."""

    items: list[dict[str, Any]] = []
    links: list[str] = []
    dropped: int = 0
    oversized: int = 0


def rule_for(d: SpiderDefinition, url: str) -> Rule | None:
    """The first rule whose `match` is found in `url`'s path (and `?query`), if any."""
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    for rule in d.rules:
        if compiled(rule.match).search(target):
            return rule
    return None


def apply_rules(
    d: SpiderDefinition, url: str, html: str, *, hosts: Collection[str] = ()
) -> PageYield:
    """The items and links of the page at `url` whose document is `html`.

    Links come from the rule's `follow` selectors (an element's `href`), resolved against
    the page (or its <base href>), kept when their host is the page's own, one of
    `definition.allowed_hosts` or one of `hosts` (a job passes its start URLs' hosts).
    """
    rule = rule_for(d, url)
    if rule is None:
        return PageYield()
    tree = LexborHTMLParser(html)
    base = _base(tree, url)
    links = _links(tree, rule.follow, base, _scope(url, d.allowed_hosts, hosts))
    found: list[dict[str, Any] | None] = []
    if rule.item is not None:
        found.append(_item(tree.root, rule.item, base))
    if rule.items is not None:
        for node in tree.css(rule.items.each)[:MAX_ITEMS_PER_PAGE]:
            found.append(_item(node, rule.items.fields, base))
    complete = [item for item in found if item is not None]
    items = [item for item in complete if len(_encode(item)) <= MAX_ITEM_BYTES]
    return PageYield(items=items, links=links, dropped=len(found) - len(complete),
                     oversized=len(complete) - len(items))  # fmt: skip


def _base(tree: LexborHTMLParser, url: str) -> str:
    node = tree.css_first("base[href]")
    href = (node.attributes.get("href") or "").strip() if node is not None else ""
    if not href:
        return url
    joined = urljoin(url, href)
    return joined if absolute(joined) is not None else url


def absolute(href: str, base: str | None = None) -> str | None:
    """`spider_url` of `href`, or None for one it refuses."""
    try:
        return spider_url(href, base)
    except InvalidUrl:
        return None


def _scope(url: str, allowed: Collection[str], hosts: Collection[str]) -> frozenset[str]:
    own = urlsplit(url).hostname or ""
    return frozenset({own, *(h.lower() for h in allowed), *(h.lower() for h in hosts)})


def _links(
    tree: LexborHTMLParser, selectors: list[str], base: str, scope: frozenset[str]
) -> list[str]:
    found: dict[str, None] = {}
    for selector in selectors:
        for node in tree.css(selector):
            href = (node.attributes.get("href") or "").strip()
            if not href or href.lower().startswith(_NOT_LINKS):
                continue
            target = absolute(href, base)
            if target is not None and urlsplit(target).hostname in scope:
                found.setdefault(target, None)
                if len(found) >= MAX_LINKS_PER_PAGE:
                    return list(found)
    return list(found)


def _item(scope: LexborNode | None, fields: dict[str, Field], base: str) -> dict[str, Any] | None:
    """The item the fields read in `scope`; None when a required field is missing (absent,
    empty, or a number/URL that could not be read)."""
    item: dict[str, Any] = {}
    for name, field in fields.items():
        spec = field_spec(field)
        value = _value(scope, spec, base) if scope is not None else None
        if spec.required and value in (None, "", []):
            return None
        item[name] = value
    return item


def _value(scope: LexborNode, spec: FieldSpec, base: str) -> Any:
    """The field's value: with `all` a list of the matches' non-empty values, else the first
    match's value (None when nothing matches)."""
    if spec.all:
        values = (_read(node, spec, base) for node in scope.css(spec.css))
        return [v for v in values if v not in (None, "")][:MAX_VALUES]
    node = scope.css_first(spec.css)
    return None if node is None else _read(node, spec, base)


def _read(node: LexborNode, spec: FieldSpec, base: str) -> Any:
    raw = node.attributes.get(spec.attr) if spec.attr is not None else node.text(deep=True)
    if raw is None:
        return None
    text = " ".join(raw.split())[:MAX_TEXT]
    if spec.type == "number":
        return first_number(text)
    if spec.type == "url":
        return absolute(text, base) if text else None
    return text


def first_number(text: str) -> float | None:
    """The first decimal number in `text` ("£1,033.75 incl. tax" -> 1033.75), or None."""
    match = _NUMBER.search(text)
    return float(match.group(0).replace(",", "")) if match else None
