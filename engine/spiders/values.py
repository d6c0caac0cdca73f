"""Values of a spider's definition and arguments: URLs as spiders keep them, typed arguments."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from engine.crawl.errors import InvalidUrl
from engine.crawl.urls import parse_url

MAX_URL = 2048  # characters of a start URL template or a string argument


def spider_url(url: str, base: str | None = None) -> str:
    """`url` (resolved against `base`) in the crawler's canonical form (engine/crawl/urls.py
    `parse_url`: its checks, lower-case scheme and host, no fragment), except that a path's
    trailing slash stays: a site may serve `/list/` and not `/list`, and a spider follows
    links as the site writes them. InvalidUrl as `parse_url` raises it."""
    canonical = parse_url(url, base)
    joined = urljoin(base, url.strip()) if base else url.strip()
    path = urlsplit(joined).path
    if len(path) > 1 and path.endswith("/"):
        parts = urlsplit(canonical)
        if not parts.path.endswith("/"):
            return urlunsplit(parts._replace(path=parts.path + "/"))
    return canonical


def typed(kind: str, value: Any) -> Any:
    """`value` as argument type `kind`; ValueError saying why it does not fit.

    Strings are accepted for every type (a command line gives nothing else): "12" is the
    integer 12, "true"/"false" (also 1/0, yes/no) booleans. A url is kept canonical.
    """
    match kind:
        case "string":
            return _string(value)
        case "integer":
            return _integer(value)
        case "number":
            return _number(value)
        case "boolean":
            return _boolean(value)
        case "url":
            try:
                return spider_url(_string(value))
            except InvalidUrl as e:
                raise ValueError(str(e)) from None
    raise ValueError(f"unknown type {kind}")


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    if len(value) > MAX_URL:
        raise ValueError(f"longer than {MAX_URL} characters")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise ValueError(f"expected an integer, got {value!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
        else:
            if number == number and abs(number) != float("inf"):
                return number
    raise ValueError(f"expected a number, got {value!r}")


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected a boolean, got {value!r}")
