"""Webhook URLs: hosts no resolver would take, and private addresses in any spelling, are
InvalidWebhook naming `url`, never another error."""

from __future__ import annotations

import pytest

from streams.webhook_store import InvalidWebhook, check_reachable, check_url

MALFORMED_HOSTS = [
    "http://a..b/",
    "http://.example.com/",
    f"http://{'x' * 64}.example/",
    f"http://{'.'.join(['a' * 60] * 5)}/",  # 304 characters
    "http://1.2.3.4.5/",
    "http://256.1.1.1/",
    "http://08.0.0.1/",
    "http://foo.127/",
]
DISGUISED_LOOPBACK = [
    "http://127.1/",
    "http://2130706433/",
    "http://017700000001/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://127.0.0.1./",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # fullwidth digits
    "http://0/",
    "http://[::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://LOCALHOST./",
]


@pytest.mark.parametrize("url", MALFORMED_HOSTS)
async def test_malformed_hosts_are_invalid_fields(url: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(InvalidWebhook) as err:
            await check_reachable(url, allow_private=allow_private)
        assert err.value.field == "url"
        assert str(err.value).startswith("url: host")


@pytest.mark.parametrize("url", DISGUISED_LOOPBACK)
async def test_disguised_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidWebhook, match="private networks are not allowed") as err:
        await check_reachable(url, allow_private=False)
    assert err.value.field == "url"
    await check_reachable(url, allow_private=True)


def test_valid_hosts_keep_their_host_and_port() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert check_url(f"https://{longest}/hook") == (longest, 443)
    assert check_url("http://127.1:8080/") == ("127.1", 8080)
