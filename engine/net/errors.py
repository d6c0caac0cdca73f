"""Errors of talking to the outside: a URL that cannot be used, an address that may not be."""

from __future__ import annotations


class NetError(Exception):
    """Root of the errors raised on purpose by `engine.net`, and by `engine.crawl`."""


class InvalidUrl(NetError):
    """A URL could not be parsed, uses a scheme other than http/https, or has a host that is
    not a valid name or IP address (an empty or over-long label, an out-of-range number)."""


class BlockedAddress(NetError):
    """A host is, or resolved to, a private, loopback or otherwise non-public address (in any
    spelling of it), or a fetch was asked to use an HTTP session that bypasses the guard."""
