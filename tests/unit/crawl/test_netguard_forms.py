"""The private-network guard against every spelling of an address: inet_aton's 1-4 parts in
decimal, octal or hex, trailing dots, brackets, IPv4-mapped and other IPv6 wrappings, IDNA."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from engine.crawl.errors import BlockedAddress, InvalidUrl
from engine.net.netguard import (
    GuardedResolver,
    NetPolicy,
    check_literal,
    check_public,
    guard_url,
    is_public,
    parse_host,
    parse_ipv4,
)

# Special-purpose IPv4 blocks (RFC 6890 and successors) that must never be fetched.
PRIVATE_NETWORKS = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    )
]  # fmt: skip
# First octets none of whose addresses is in a special-purpose block.
PUBLIC_FIRST_OCTETS = [o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192, 198, 203)]


@st.composite
def private_ipv4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    net = draw(st.sampled_from(PRIVATE_NETWORKS))
    offset = draw(st.integers(0, net.num_addresses - 1))
    return net[offset]


@st.composite
def public_ipv4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    first = draw(st.sampled_from(PUBLIC_FIRST_OCTETS))
    return ipaddress.IPv4Address((first << 24) | draw(st.integers(0, (1 << 24) - 1)))


@st.composite
def number(draw: st.DrawFn, value: int) -> str:
    """``value`` as inet_aton reads a part: decimal, 0-prefixed octal or 0x hex, any case."""
    base = draw(st.sampled_from(["dec", "oct", "hex"]))
    if base == "dec":
        return str(value)
    zeros = "0" * draw(st.integers(0, 3))
    if base == "oct":
        return "0" + zeros + format(value, "o")
    digits = format(value, draw(st.sampled_from(["x", "X"])))
    return draw(st.sampled_from(["0x", "0X"])) + zeros + digits


@st.composite
def aton_spelling(draw: st.DrawFn, ip: ipaddress.IPv4Address) -> str:
    """One of the ways inet_aton accepts ``ip``: 1 to 4 parts, the last filling the rest."""
    parts = draw(st.integers(1, 4))
    packed = ip.packed
    head = [draw(number(b)) for b in packed[: parts - 1]]
    last = draw(number(int.from_bytes(packed[parts - 1 :], "big")))
    dot = draw(st.sampled_from(["", "."]))
    return ".".join([*head, last]) + dot


@st.composite
def spelling(draw: st.DrawFn, ip: ipaddress.IPv4Address) -> str:
    """A URL host naming ``ip``: an inet_aton form, or an IPv4-mapped IPv6 literal."""
    mapped = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + ip.packed)
    return draw(
        st.one_of(
            aton_spelling(ip),
            st.sampled_from([f"[::ffff:{ip}]", f"[{mapped}]", f"[{mapped.exploded}]"]),
        )
    )


def _host_of(url: URL) -> str:
    return str(url.raw_host)


@given(st.data(), private_ipv4())
def test_every_spelling_of_a_private_address_is_refused(
    data: st.DataObject, ip: ipaddress.IPv4Address
) -> None:
    host = data.draw(spelling(ip))
    target = parse_host(host)
    assert target in (ip, ipaddress.IPv6Address(f"::ffff:{ip}"))
    with pytest.raises(BlockedAddress, match="not public"):
        guard_url(URL(f"http://{host}:8080/p?q=1"))
    with pytest.raises(BlockedAddress):
        check_literal(host)


@given(st.data(), public_ipv4())
def test_every_spelling_of_a_public_address_is_allowed_and_made_canonical(
    data: st.DataObject, ip: ipaddress.IPv4Address
) -> None:
    host = data.draw(spelling(ip))
    url = guard_url(URL(f"http://{host}:8080/p?q=1"))
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    assert _host_of(url) in (str(ip), str(mapped))
    assert (url.port, url.path, url.query_string) == (8080, "/p", "q=1")
    check_literal(host)


@given(st.data(), st.integers(0, (1 << 32) - 1))
def test_parse_ipv4_agrees_with_inet_aton(data: st.DataObject, value: int) -> None:
    """The C library's inet_aton is the reference for every 1-4 part spelling."""
    ip = ipaddress.IPv4Address(value)
    host = data.draw(aton_spelling(ip)).rstrip(".").lower()
    assert socket.inet_aton(host) == ip.packed
    assert parse_ipv4(host) == ip


@pytest.mark.parametrize(
    "host",
    [
        "127.1", "2130706433", "017700000001", "0x7f000001", "0x7f.1", "0x7F.0.0.1",
        "127.0.0.1.", "127.0.0.1..", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
        "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # fullwidth 127.0.0.1
        "0", "0.0.0.0", "0x", "[::]", "[::1]", "[::127.0.0.1]", "[::ffff:0:7f00:1]",
        "[64:ff9b::7f00:1]", "[64:ff9b:1::8.8.8.8]", "[2002:7f00:1::1]", "[2002:a00:1::]",
        "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1
        "[fe80::1%25eth0]", "[fc00::1]", "169.254.169.254", "0251.0376.0251.0376",
        "0xa9fea9fe", "2852039166",
    ],
)  # fmt: skip
def test_disguised_private_literals_are_refused(host: str) -> None:
    with pytest.raises(BlockedAddress):
        check_literal(host)
    with pytest.raises(BlockedAddress):
        guard_url(URL(f"http://{host}/"))


def test_the_blocked_message_names_both_spellings() -> None:
    with pytest.raises(BlockedAddress, match=r"address 0x7f\.1 \(127\.0\.0\.1\) is not public"):
        check_literal("0x7f.1")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("ExAmple.COM.", "example.com"),
        ("LOCALHOST.", "localhost"),
        ("\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "example.com"),  # fullwidth letters
        ("b\u00fccher.example", "xn--bcher-kva.example"),
        ("127.0.0.1.nip.io", "127.0.0.1.nip.io"),  # a name (the resolver's to check)
        ("a_b.example", "a_b.example"),
    ],
)
def test_names_are_normalised(host: str, expected: str) -> None:
    assert parse_host(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "a..b", ".a", "." * 3, "", "x" * 64 + ".com", ".".join(["a" * 63] * 4) + "x",
        "1.2.3.4.5", "256.0.0.1", "1.2.65536", "4294967296", "08.0.0.1", "0x1g.0.0.1",
        "foo.127", "foo.0x7f", "exa mple.com", "a%2e.b", "[::ffff:127.1]", "[nope]",
    ],
)  # fmt: skip
def test_malformed_hosts_are_invalid(host: str) -> None:
    with pytest.raises(InvalidUrl):
        parse_host(host)


def test_names_of_legal_length_pass() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253
    assert parse_host(longest) == longest


def test_embedded_public_addresses_stay_public() -> None:
    assert is_public(ipaddress.IPv6Address("::ffff:93.184.216.34"))
    assert is_public(ipaddress.IPv6Address("2002:5db8:d822::1"))  # 6to4 of 93.184.216.34
    assert not is_public(ipaddress.IPv6Address("2002:c0a8:101::1"))  # 6to4 of 192.168.1.1


def test_allow_private_rewrites_but_does_not_refuse() -> None:
    permissive = NetPolicy(allow_private=True)
    url = guard_url(URL("http://0x7f.1:8080/a"), permissive)
    assert str(url) == "http://127.0.0.1:8080/a"
    assert str(guard_url(URL("http://[::ffff:127.0.0.1]/"), permissive)) == (
        "http://[::ffff:7f00:1]/"
    )


def test_allow_networks_admits_exactly_those_networks() -> None:
    one = NetPolicy(allow_networks=("127.0.0.2/32",))
    assert str(guard_url(URL("http://127.0.0.2:81/"), one)) == "http://127.0.0.2:81/"
    assert str(guard_url(URL("http://0x7f000002:81/"), one)) == "http://127.0.0.2:81/"
    assert one.permits(ipaddress.IPv6Address("::ffff:127.0.0.2"))
    for other in ("127.1", "127.0.0.3", "10.0.0.2"):
        with pytest.raises(BlockedAddress):
            guard_url(URL(f"http://{other}:81/"), one)


async def test_literals_are_never_looked_up() -> None:
    """A numeric host in any spelling is judged as that address, even where getaddrinfo
    would say otherwise; the resolver hands back only the checked address."""
    for host in ("0x7f.1", "127.0.0.1.", "2130706433"):
        with pytest.raises(BlockedAddress):
            await check_public(host, 80)
        with pytest.raises(BlockedAddress):
            await GuardedResolver().resolve(host, 80)
    [result] = await GuardedResolver(allow_private=True).resolve("0x7f.1", 8080)
    assert (result["host"], result["port"], result["family"]) == ("127.0.0.1", 8080, socket.AF_INET)


async def test_names_are_resolved_and_every_address_checked() -> None:
    for host in ("localhost", "LOCALHOST.", "LocalHost"):
        with pytest.raises(BlockedAddress, match="localhost resolves to non-public"):
            await check_public(host, 80)
        with pytest.raises(BlockedAddress):
            await GuardedResolver().resolve(host, 80)


async def test_the_resolver_turns_a_malformed_host_into_a_lookup_failure() -> None:
    with pytest.raises(OSError, match="cannot resolve"):
        await GuardedResolver().resolve("a..b", 80)
    with pytest.raises(InvalidUrl):
        await check_public("x" * 64 + ".com", 80)
