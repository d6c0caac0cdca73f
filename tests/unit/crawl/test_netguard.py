from __future__ import annotations

import pytest
from yarl import URL

from engine.crawl.errors import BlockedAddress, CrawlError
from engine.net.netguard import (
    STRICT,
    GuardedResolver,
    NetPolicy,
    check_literal,
    check_public,
    guard_url,
    is_public_address,
)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("not-an-ip", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_check_literal() -> None:
    check_literal("example.com")  # names are left to the resolver
    check_literal("93.184.216.34")
    with pytest.raises(BlockedAddress):
        check_literal("127.0.0.1")
    with pytest.raises(BlockedAddress):
        check_literal("[::1]")


async def test_check_public_on_literals() -> None:
    await check_public("93.184.216.34", 80)
    with pytest.raises(BlockedAddress) as info:
        await check_public("10.0.0.7", 80)
    assert isinstance(info.value, CrawlError)


async def test_check_public_resolves_names() -> None:
    with pytest.raises(BlockedAddress, match="localhost"):
        await check_public("localhost", 80)


async def test_guarded_resolver() -> None:
    with pytest.raises(BlockedAddress):
        await GuardedResolver().resolve("localhost", 80)
    results = await GuardedResolver(allow_private=True).resolve("localhost", 8080)
    assert results
    assert all(r["port"] == 8080 and r["hostname"] == "localhost" for r in results)
    assert any(r["host"] in ("127.0.0.1", "::1") for r in results)


@pytest.mark.parametrize("host", ["127.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "10.0.0.1"])
def test_a_verdict_is_kept_per_policy_and_a_refusal_is_never_kept(host: str) -> None:
    url = URL(f"http://{host}/page")
    lenient = NetPolicy(allow_private=True)
    for _ in range(2):  # asked again, after being permitted under another policy
        assert guard_url(url, lenient).raw_host in ("127.0.0.1", "::ffff:7f00:1", "10.0.0.1")
        with pytest.raises(BlockedAddress):
            guard_url(url, STRICT)
    intranet = NetPolicy(allow_networks=("10.0.0.0/8",))
    if host == "10.0.0.1":
        assert guard_url(url, intranet).raw_host == "10.0.0.1"
    else:
        with pytest.raises(BlockedAddress):
            guard_url(url, intranet)
