"""Protection against fetching private networks (SSRF guard).

Two layers: :func:`check_public` resolves a host and rejects it up front, and
:class:`GuardedResolver` plugs into aiohttp's connector so every connection
(including those made for redirects) is checked against the addresses actually
used, which also defeats DNS rebinding between check and connect. aiohttp does
not consult the resolver for IP literals, so :func:`check_literal` covers those.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from engine.crawl.errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal, optionally with %zone) is publicly routable."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    blocked = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )
    # is_global also rejects shared/benchmark ranges (100.64/10, 198.18/15) that
    # is_private does not cover.
    return not blocked and ip.is_global


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_literal(host: str) -> None:
    """Raise BlockedAddress if ``host`` is an IP literal that is not public; names pass."""
    if _literal(host) is not None and not is_public_address(host.strip("[]")):
        raise BlockedAddress(f"address {host} is not public")


async def _getaddrinfo(host: str, port: int, family: int) -> list[tuple[int, str, int]]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        # OSError keeps aiohttp's own DNS-error handling (ClientConnectorDNSError).
        raise OSError(e.errno, f"cannot resolve {host}: {e.strerror}") from e
    return [(fam, str(addr[0]), proto) for fam, _, proto, _, addr in infos]


def _reject_private(host: str, addresses: list[str]) -> None:
    bad = [a for a in addresses if not is_public_address(a)]
    if bad:
        raise BlockedAddress(f"{host} resolves to non-public address {bad[0]}")


async def check_public(host: str, port: int) -> None:
    """Resolve ``host`` and raise BlockedAddress if any of its addresses is not public.

    Private, loopback, link-local, multicast, reserved and unspecified addresses
    are refused (IPv4-mapped IPv6 is unwrapped first). Resolution failures raise
    OSError.
    """
    infos = await _getaddrinfo(host, port, socket.AF_UNSPEC)
    _reject_private(host, [addr for _, addr, _ in infos])


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses hosts with non-public addresses.

    With ``allow_private=True`` it resolves like aiohttp's threaded resolver and
    filters nothing (for tests and intranet crawls). Otherwise a host is refused
    with BlockedAddress as soon as one of its addresses is not public.
    """

    def __init__(self, *, allow_private: bool = False) -> None:
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Return the addresses of ``host``; raises BlockedAddress or OSError."""
        infos = await _getaddrinfo(host, port, family)
        if not self._allow_private:
            _reject_private(host, [addr for _, addr, _ in infos])
        return [
            ResolveResult(
                hostname=host,
                host=addr,
                port=port,
                family=fam,
                proto=proto,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for fam, addr, proto in infos
        ]

    async def close(self) -> None:
        """Nothing to release: resolution uses the event loop's executor."""
