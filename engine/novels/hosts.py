"""Host keys: the one spelling of a host that sources are registered and looked up under."""

from __future__ import annotations

from urllib.parse import urlsplit

from engine.novels.errors import InvalidNovelUrl

_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_key(value: str) -> str:
    """The registry key of a URL's host, or of a bare host (``"Example.com:8080"``).

    Lower-cased, IDNA-encoded (Python's ``idna`` codec, IDNA 2003, applied alike to
    registered hosts and looked-up URLs), a final dot and one leading ``www.`` dropped, the
    port kept (``host:port``) unless it is the default port of the URL's scheme. IPv6
    addresses keep their brackets. Idempotent. Raises InvalidNovelUrl for a value with no
    host, a bad port, or a name IDNA cannot encode (such as an empty label).
    """
    text = value.strip()
    try:
        parts = urlsplit(text if "//" in text else "//" + text)
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise InvalidNovelUrl(f"not a valid host or URL ({e}): {value!r}") from e
    if not host:
        raise InvalidNovelUrl(f"no host in {value!r}")
    name = f"[{host}]" if ":" in host else _ascii_name(host.rstrip("."), value)
    if name.startswith("www.") and len(name) > len("www."):
        name = name[len("www.") :]
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return name
    return f"{name}:{port}"


def _ascii_name(host: str, value: str) -> str:
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise InvalidNovelUrl(f"not a valid host name ({e}): {value!r}") from e
    if not name or any(c.isspace() or c in "/?#@\\%" for c in name):
        raise InvalidNovelUrl(f"not a valid host name: {value!r}")
    return name.lower()
