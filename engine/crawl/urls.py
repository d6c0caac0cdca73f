"""URL normalisation, scope and path-glob rules shared by the frontier and the extractor."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# ASCII characters that are whitespace or unprintable (str.isspace / str.isprintable).
_ASCII_BLANK = re.compile(r"[\x00-\x20\x7f]")
_HOST_BAD = re.compile(r"[/?#@\[\]\\]")


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Return the canonical form of ``url`` (resolved against ``base``), or None.

    Contract: only http/https URLs with a host survive; scheme and host are
    lower-cased, the default port is dropped, the fragment is removed, a
    trailing slash is removed from non-root paths ("/a/" -> "/a", "/" stays) and
    the query is kept verbatim. The function is idempotent.
    """
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        netloc = _canonical_netloc(parts, scheme)
    except ValueError:
        # urlsplit/port raise ValueError on malformed netlocs (bad port, stray brackets).
        return None
    if netloc is None:
        return None
    path, query = _escape_blanks(_canonical_path(parts.path)), _escape_blanks(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _clean(text: str) -> bool:
    """No whitespace and nothing unprintable in ``text``."""
    if text.isascii():  # the usual case, without a Python-level loop over characters
        return _ASCII_BLANK.search(text) is None
    return all(c.isprintable() and not c.isspace() for c in text)


def _escape_blanks(text: str) -> str:
    # Whitespace and control characters are percent-encoded (as browsers do) so
    # the result survives the leading/trailing strip of a second normalisation.
    if _clean(text):
        return text
    return "".join(c if c.isprintable() and not c.isspace() else _pct(c) for c in text)


def _pct(char: str) -> str:
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))


def _canonical_netloc(parts: SplitResult, scheme: str) -> str | None:
    host = parts.hostname
    if not host or _HOST_BAD.search(host) is not None or not _clean(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    userinfo, sep, _ = parts.netloc.rpartition("@")
    return f"{userinfo}@{netloc}" if sep else netloc


def _canonical_path(path: str) -> str:
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    # A path must start with "/" once a netloc is present, otherwise the next
    # urlsplit would read it differently and break idempotence.
    return stripped if stripped.startswith("/") else "/" + stripped


def origin_of(url: str) -> str:
    """Return ``scheme://netloc`` of ``url`` (no path); the URL must be normalised."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _bare(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def in_scope(url: str, root_host: str, include_subdomains: bool) -> bool:
    """Whether ``url`` belongs to the crawl rooted at ``root_host``.

    ``root_host`` is a host (an IPv6 address in brackets), optionally with ":port";
    when it has a port the URL must use that port too. "www.<root>" and "<root>"
    count as the same host; any deeper subdomain counts only when
    ``include_subdomains`` is set.
    """
    try:
        root = urlsplit("//" + root_host)
        root_name, root_port = root.hostname or "", root.port
    except ValueError:
        return False
    return host_in_scope(url, root_name, root_port, include_subdomains)


def host_in_scope(
    url: str, root_name: str, root_port: int | None, include_subdomains: bool
) -> bool:
    """:func:`in_scope` with the root already split into its host (lower-case, an IPv6
    address without brackets, as ``urlsplit().hostname`` gives it) and its port."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if root_port is not None and _effective_port(parts) != root_port:
            return False
    except ValueError:
        return False
    if not host or not root_name:
        return False
    host, root_name = _bare(host), _bare(root_name)
    return host == root_name or (include_subdomains and host.endswith("." + root_name))


def _effective_port(parts: SplitResult) -> int | None:
    return parts.port if parts.port is not None else _DEFAULT_PORTS.get(parts.scheme.lower())


def path_allowed(url: str, include_paths: Iterable[str], exclude_paths: Iterable[str]) -> bool:
    """Whether the path of ``url`` passes the include/exclude globs.

    Globs use fnmatch syntax matched case-sensitively against the URL path, where
    ``*`` also matches "/". A pattern without a leading "/" gets one. Excludes
    win over includes; an empty include list admits every path.
    """
    return path_passes(url, anchor_globs(include_paths), anchor_globs(exclude_paths))


def anchor_globs(patterns: Iterable[str]) -> tuple[str, ...]:
    """``patterns`` as :func:`path_allowed` matches them: each given its leading "/"."""
    return tuple(p if p.startswith(("/", "*")) else "/" + p for p in patterns)


def path_passes(url: str, includes: Sequence[str], excludes: Sequence[str]) -> bool:
    """:func:`path_allowed` with globs already anchored by :func:`anchor_globs`."""
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        return False
    if any(fnmatchcase(path, p) for p in excludes):
        return False
    return not includes or any(fnmatchcase(path, p) for p in includes)
