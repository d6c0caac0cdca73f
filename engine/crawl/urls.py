"""URL parsing and normalisation, scope and path-glob rules: one parser for the API, the
frontier, the extractor and the fetcher's redirects."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

from yarl import URL

from engine.crawl.errors import InvalidUrl

_DEFAULT_PORTS = {"http": 80, "https": 443}
# ASCII characters that are whitespace or unprintable (str.isspace / str.isprintable).
_ASCII_BLANK = re.compile(r"[\x00-\x20\x7f]")
# A host name as resolvers take it (ASCII, IDNA applied, lower case, no final dot): labels of
# letters, digits, "-" and "_", no more than 63 characters each nor 253 in all (RFC 1035).
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_MAX_LABEL, _MAX_NAME = 63, 253
_MAX_PORT = 65535


def parse_url(url: str, base: str | None = None) -> str:
    """Return the canonical form of ``url`` (resolved against ``base``), or raise InvalidUrl.

    The one URL parser of the project: the API refuses what it refuses, and the crawler
    normalises every URL it meets with it (:func:`normalize_url`).

    Canonical form: scheme and host lower-cased, the default port dropped, the fragment
    removed, a trailing slash removed from non-root paths ("/a/" -> "/a", "/" stays),
    whitespace and control characters in path and query percent-encoded, the query kept
    otherwise verbatim. Idempotent: ``parse_url(parse_url(u)) == parse_url(u)``.

    Refused, with InvalidUrl saying why: a scheme other than http/https (a relative URL
    without ``base`` has none); no host; a malformed IPv6 literal; a host name which, in its
    IDNA form, has an empty label, a label over 63 or a name over 253 characters, or a
    character other than letters, digits, "-" and "_" (or non-ASCII that IDNA cannot
    encode); a port outside 1-65535; whitespace or control characters in host or user info.
    """
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
    except ValueError as e:  # stray or unbalanced brackets around an IPv6 literal
        raise InvalidUrl(f"malformed host ({e}): {_shown(url)}") from e
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        reason = f"scheme {scheme!r} is not http or https" if scheme else "not an absolute URL"
        raise InvalidUrl(f"{reason}: {_shown(url)}")
    netloc = _canonical_netloc(parts, scheme, url)
    path, query = _escape_blanks(_canonical_path(parts.path)), _escape_blanks(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def normalize_url(url: str, base: str | None = None) -> str | None:
    """:func:`parse_url`'s canonical form of ``url``, or None where it raises InvalidUrl."""
    try:
        return parse_url(url, base)
    except InvalidUrl:
        return None


def _shown(url: str) -> str:
    """``url`` for an error message: quoted, escaped, and cut short when long."""
    return repr(url if len(url) <= 200 else url[:200] + "...")


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


def _canonical_netloc(parts: SplitResult, scheme: str, url: str) -> str:
    host = parts.hostname
    if not host:
        raise InvalidUrl(f"no host: {_shown(url)}")
    if ":" in host:  # an IPv6 literal, which urlsplit has checked (but for its zone)
        if not _clean(host):
            raise InvalidUrl(f"whitespace or a control character in the host: {_shown(url)}")
        host = f"[{host}]"
    else:
        _check_host_name(host, url)
    port = _port(parts, url)
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    userinfo, sep, _ = parts.netloc.rpartition("@")
    if sep and not _clean(userinfo):
        raise InvalidUrl(f"whitespace or a control character in the user info: {_shown(url)}")
    return f"{userinfo}@{netloc}" if sep else netloc


def _check_host_name(host: str, url: str) -> None:
    """Refuse a host name (or IPv4 address) that no resolver would take."""
    if host.isascii():
        name = host
    elif _clean(host):
        name = _idna(host, url)
    else:
        raise InvalidUrl(f"whitespace or a control character in the host: {_shown(url)}")
    name = name[:-1] if name.endswith(".") else name  # a final dot is the DNS root
    if len(name) <= _MAX_LABEL and _NAME.fullmatch(name) is not None:
        return  # the usual case, decided without splitting the name
    problem = _name_problem(name)
    if problem is not None:
        raise InvalidUrl(f"{problem}: {_shown(url)}")


def _name_problem(name: str) -> str | None:
    """What is wrong with an ASCII host name (without its final dot), or None."""
    if len(name) > _MAX_NAME:
        return f"the host is longer than {_MAX_NAME} characters"
    for label in name.split("."):
        if not label:
            return "the host has an empty label"
        if len(label) > _MAX_LABEL:
            return f"a host label is longer than {_MAX_LABEL} characters"
        if not _clean(label):
            return "whitespace or a control character in the host"
        bad = next((c for c in label if _NAME.fullmatch(c) is None), None)
        if bad is not None:
            return f"{bad!r} is not allowed in a host name"
    return None


def _idna(host: str, url: str) -> str:
    # The ASCII form the fetcher (yarl) will look up; only non-ASCII hosts pay for it.
    try:
        return str(URL.build(scheme="http", host=host).raw_host)
    except (UnicodeError, ValueError) as e:
        raise InvalidUrl(f"the host is not a valid international domain name: {_shown(url)}") from e


def _port(parts: SplitResult, url: str) -> int | None:
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = -1
    if port is not None and not 0 < port <= _MAX_PORT:
        raw = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
        raise InvalidUrl(f"port {raw!r} is not a number from 1 to {_MAX_PORT}: {_shown(url)}")
    return port


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
