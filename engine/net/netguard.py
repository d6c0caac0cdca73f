"""Protection against fetching private networks (SSRF guard), independent of aiohttp's version.

Every outbound connection goes through two checks that share one host parser:

- :func:`guard_url`, before aiohttp sees a URL: the host is normalised (IDNA to ASCII,
  lower case, no trailing dots, no brackets). A host that is numeric in any ``inet_aton``
  spelling (``127.1``, ``2130706433``, ``017700000001``, ``0x7f.1``...) is that IPv4
  address, never a name; an IP literal is checked and the URL rewritten to its canonical
  form, so aiohttp only ever sees a dotted quad, an IPv6 literal or a name.
- :class:`GuardedResolver`, inside aiohttp's connector (:class:`GuardedConnector`): every
  name is resolved with the event loop's getaddrinfo, every address checked, and only the
  checked addresses are handed back to connect to, which also defeats DNS rebinding.

A name can never look numeric to aiohttp after :func:`parse_host` (its last label is not
a number), so aiohttp consults the resolver for it whatever its own IP heuristics are.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Sequence
from typing import Any

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from engine.net.errors import BlockedAddress, InvalidUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
_LABEL = re.compile(r"[a-z0-9_-]+")
# WHATWG's "ends in a number": such a host is an IPv4 address or invalid, never a name.
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Special-purpose blocks that are not globally reachable (RFC 6890 and its updates), listed
# here so the guard does not depend on the Python release's ipaddress tables (3.11's
# is_global, for one, still takes most of 192.0.0.0/24 for public).
_SPECIAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
        "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_IPV4_TRANSLATED = 0xFFFF0000  # ::ffff:0:a.b.c.d, the upper 96 bits shifted down by 32
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


# -- parsing hosts ------------------------------------------------------------------


# Pure, and a crawl asks about the same few hosts for every page: the answer is kept (an
# invalid host raises again each time, exceptions are not kept).
@functools.lru_cache(maxsize=4096)
def parse_host(host: str) -> IPAddress | str:
    """The address ``host`` denotes if it is an IP literal in any form, else its normalised name.

    Brackets and trailing dots are dropped, IDNA is applied (fullwidth digits become ASCII
    ones) and names are lower-cased. A host whose last label is a number (decimal,
    ``0``-prefixed octal or ``0x`` hex) is parsed as ``inet_aton`` does: 1 to 4 parts, the
    last filling the remaining bytes. Raises InvalidUrl for anything else that is not a
    valid host name: an empty or over-long label (> 63), an over-long host (> 253), a
    character other than letters, digits, ``-`` and ``_``, or a numeric host out of range.
    """
    if host.startswith("[") and host.endswith("]"):
        return _ipv6(host[1:-1])
    if ":" in host:
        return _ipv6(host)
    name = _ascii(host).rstrip(".")
    _check_name(name, host)
    last = name.rsplit(".", 1)[-1]
    if _NUMBER.fullmatch(last):
        return parse_ipv4(name)
    return name


def parse_ipv4(host: str) -> ipaddress.IPv4Address:
    """``host`` read as ``inet_aton`` reads it (lower-case ASCII); InvalidUrl if it is not one.

    ``127.1``, ``2130706433``, ``017700000001``, ``0x7f000001`` and ``0x7f.0.0.1`` are all
    127.0.0.1; ``0`` is 0.0.0.0.
    """
    parts = host.split(".")
    if len(parts) > 4 or not all(_NUMBER.fullmatch(p) for p in parts):
        raise InvalidUrl(f"host {host!r} is neither an IPv4 address nor a name")
    *head, last = [_aton_number(p, host) for p in parts]
    if any(n > 0xFF for n in head) or last >= 1 << (8 * (5 - len(parts))):
        raise InvalidUrl(f"host {host!r} is an IPv4 address out of range")
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _aton_number(part: str, host: str) -> int:
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part)
    except ValueError as e:  # an octal part with an 8 or a 9
        raise InvalidUrl(f"host {host!r} has an invalid number {part!r}") from e


def _ipv6(text: str) -> ipaddress.IPv6Address:
    # RFC 6874 writes the zone separator as %25 in URLs.
    try:
        return ipaddress.IPv6Address(text.replace("%25", "%", 1))
    except ValueError as e:
        raise InvalidUrl(f"host [{text}] is not an IPv6 address") from e


def _ascii(host: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        # yarl's IDNA (UTS 46) encoding: the same host aiohttp would be given.
        encoded = URL.build(scheme="http", host=host).raw_host
    except (ValueError, UnicodeError) as e:
        raise InvalidUrl(f"host {host!r} is not a valid international name") from e
    return (encoded or "").lower()


def _check_name(name: str, original: str) -> None:
    if not name or len(name) > MAX_HOST_LENGTH:
        raise InvalidUrl(f"host {original!r} is empty or longer than {MAX_HOST_LENGTH}")
    for label in name.split("."):
        if not label or len(label) > MAX_LABEL_LENGTH:
            raise InvalidUrl(
                f"host {original!r} has an empty label or one longer than {MAX_LABEL_LENGTH}"
            )
        if not _LABEL.fullmatch(label):
            raise InvalidUrl(f"host {original!r} has a character not allowed in a host name")


# -- which addresses are public -------------------------------------------------------


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is publicly routable, looking through IPv6 forms that carry an IPv4.

    IPv4-mapped addresses are judged by their IPv4 address. IPv4-compatible (::/96),
    IPv4-translated, 6to4, Teredo and NAT64 (64:ff9b::/96) addresses are public only if
    both they and every IPv4 address they embed are; local NAT64 (64:ff9b:1::/48) never is.
    Special-purpose blocks count as not public whatever Python's ipaddress tables say.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if not all(is_public(v4) for v4 in _embedded_ipv4(ip)):
            return False
    blocked = (
        any(ip in net for net in _SPECIAL_NETWORKS)
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )
    # is_global also rejects shared/benchmark ranges (100.64/10, 198.18/15) that
    # is_private does not cover.
    return not blocked and ip.is_global


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [a for a in (ip.sixtofour, *(ip.teredo or ())) if a is not None]
    upper = int(ip) >> 32
    if ip in _NAT64 or upper in (0, _IPV4_TRANSLATED):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal, optionally with %zone) is publicly routable."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return is_public(ip)


class NetPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Which addresses may be connected to: public ones, plus everything with
    ``allow_private`` (tests, intranet crawls), plus the CIDR ``allow_networks``."""

    allow_private: bool = False
    allow_networks: tuple[str, ...] = ()

    def permits(self, ip: IPAddress) -> bool:
        """Whether a connection to ``ip`` is allowed."""
        if self.allow_private or is_public(ip):
            return True
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        nets = _networks(self.allow_networks)
        return any(ip in net or (mapped is not None and mapped in net) for net in nets)


@functools.lru_cache(maxsize=64)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``cidrs`` parsed (kept: a policy's few networks are checked for every address)."""
    return tuple(ipaddress.ip_network(n, strict=False) for n in cidrs)


STRICT = NetPolicy()


# -- the checks -----------------------------------------------------------------------


def guard_url(url: URL, policy: NetPolicy = STRICT) -> URL:
    """``url`` as it may be handed to aiohttp: its host normalised by :func:`parse_host`.

    An IP literal (in any spelling) is rewritten to its canonical form, after BlockedAddress
    is raised unless ``policy`` permits it; a name is left to :class:`GuardedResolver`.
    InvalidUrl for a URL without a valid host.
    """
    raw = url.raw_host
    if not raw:
        raise InvalidUrl(f"URL {url} has no host")
    host = _guarded_host(raw, policy)
    return url if host == raw else url.with_host(host)


# Pure (the host's parse and the policy's verdict on an address never change), and asked for
# every request: a permitted host's spelling is kept. Refusals raise, so they are not kept.
@functools.lru_cache(maxsize=4096)
def _guarded_host(raw: str, policy: NetPolicy) -> str:
    """The spelling of host ``raw`` to hand to aiohttp: a name as :func:`parse_host` gives
    it, an IP literal in canonical form once ``policy`` permits it (else BlockedAddress)."""
    target = parse_host(raw)
    if isinstance(target, str):
        return target
    _check_address(target, policy, raw)
    return str(target)


def _check_address(ip: IPAddress, policy: NetPolicy, host: str) -> None:
    if not policy.permits(ip):
        shown = host if host == str(ip) else f"{host} ({ip})"
        raise BlockedAddress(f"address {shown} is not public")


def check_literal(host: str) -> None:
    """Raise BlockedAddress if ``host`` is an IP literal (any form) that is not public.

    Names pass (they are the resolver's to check); InvalidUrl for a malformed host.
    """
    target = parse_host(host)
    if not isinstance(target, str):
        _check_address(target, STRICT, host)


async def check_public(host: str, port: int) -> None:
    """Raise BlockedAddress if ``host`` is, or resolves to, any address that is not public.

    IP literals in any form are judged as themselves, never looked up; names are resolved
    with getaddrinfo and every address is checked. Resolution failures raise OSError, a
    malformed host InvalidUrl.
    """
    target = parse_host(host)
    if not isinstance(target, str):
        _check_address(target, STRICT, host)
        return
    infos = await _getaddrinfo(target, port, socket.AF_UNSPEC)
    _reject(target, [addr for _, addr, _ in infos], STRICT)


async def _getaddrinfo(host: str, port: int, family: int) -> list[tuple[int, str, int]]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        # OSError keeps aiohttp's own DNS-error handling (ClientConnectorDNSError).
        raise OSError(e.errno, f"cannot resolve {host}: {e.strerror}") from e
    except UnicodeError as e:  # the idna codec refusing a name
        raise OSError(socket.EAI_NONAME, f"cannot resolve {host}: {e}") from e
    return [(fam, str(addr[0]), proto) for fam, _, proto, _, addr in infos]


def _reject(host: str, addresses: list[str], policy: NetPolicy) -> None:
    for address in addresses:
        if not _permitted(address, policy):
            raise BlockedAddress(f"{host} resolves to non-public address {address}")


def _permitted(address: str, policy: NetPolicy) -> bool:
    try:
        ip: IPAddress = ipaddress.ip_address(address)  # scoped IPv6 ("fe80::1%eth0") too
    except ValueError:
        return False
    return policy.permits(ip)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that returns only addresses its :class:`NetPolicy` permits.

    A host that is an IP literal in any form is judged as that address and never looked
    up; a name is resolved with the event loop's getaddrinfo and refused with
    BlockedAddress as soon as one of its addresses is not permitted. A malformed host
    raises OSError, as a failed lookup does.
    """

    def __init__(self, *, allow_private: bool = False, allow_networks: Sequence[str] = ()) -> None:
        self.policy = NetPolicy(allow_private=allow_private, allow_networks=tuple(allow_networks))

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Return the addresses of ``host``; raises BlockedAddress or OSError."""
        try:
            target = parse_host(host)
        except InvalidUrl as e:
            raise OSError(socket.EAI_NONAME, f"cannot resolve {host}: {e}") from e
        if isinstance(target, str):
            infos = await _getaddrinfo(target, port, family)
            _reject(target, [addr for _, addr, _ in infos], self.policy)
        else:
            _check_address(target, self.policy, host)
            fam = socket.AF_INET if target.version == 4 else socket.AF_INET6
            infos = [(fam, str(target), 0)]
        return [_result(host, addr, port, fam, proto) for fam, addr, proto in infos]

    async def close(self) -> None:
        """Nothing to release: resolution uses the event loop's executor."""


def _result(host: str, addr: str, port: int, family: int, proto: int) -> ResolveResult:
    return ResolveResult(
        hostname=host, host=addr, port=port, family=family, proto=proto, flags=_NUMERIC
    )


class GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector whose every lookup goes through a :class:`GuardedResolver`."""

    def __init__(self, *, policy: NetPolicy = STRICT, **options: Any) -> None:
        resolver = GuardedResolver(
            allow_private=policy.allow_private, allow_networks=policy.allow_networks
        )
        super().__init__(resolver=resolver, **options)
        self.policy = policy


def require_guarded(session: aiohttp.ClientSession, policy: NetPolicy) -> None:
    """Raise BlockedAddress unless ``session`` connects through a :class:`GuardedConnector`
    whose policy is ``policy`` (any session will do when ``policy`` allows private networks).

    A session made some other way would let names reach private addresses unchecked.
    """
    if policy.allow_private:
        return
    connector = session.connector
    if not isinstance(connector, GuardedConnector) or connector.policy != policy:
        raise BlockedAddress("the HTTP session does not go through the private-network guard")
