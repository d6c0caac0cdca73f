"""`parse_url`: the one URL parser, refusing with a reason what no fetch could use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.errors import InvalidUrl
from engine.crawl.frontier import Frontier
from engine.crawl.urls import normalize_url, parse_url

LONG_LABEL = "a" * 64
LONG_NAME = ".".join(["a" * 60] * 5)  # 304 characters, every label within 63


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com:99999/", "port '99999' is not a number from 1 to 65535"),
        ("http://example.com:-1/", "port '-1' is not a number from 1 to 65535"),
        ("http://example.com:0/", "port '0' is not a number from 1 to 65535"),
        ("http://example.com:8o/", "port '8o' is not a number"),
        ("http://[::1]:70000/", "port '70000'"),
        ("http://[::1/", "malformed host (Invalid IPv6 URL)"),
        ("http://[zz]/", "malformed host"),
        ("http://exa\x00mple.com/", "whitespace or a control character in the host"),
        ("http://ex ample.com/", "whitespace or a control character in the host"),
        ("http://bücher\x00.de/", "whitespace or a control character in the host"),
        ("http:///path", "no host"),
        ("http://:80/", "no host"),
        ("http://user@/", "no host"),
        (f"http://{LONG_LABEL}.com/", "a host label is longer than 63 characters"),
        (f"http://{LONG_NAME}/", "the host is longer than 253 characters"),
        ("http://a..example.com/", "the host has an empty label"),
        ("http://.example.com/", "the host has an empty label"),
        ("http://./", "the host has an empty label"),
        ("http://ex%41mple.com/", "'%' is not allowed in a host name"),
        ("http://a<b.com/", "'<' is not allowed in a host name"),
        ("http://ex!ample.com/", "'!' is not allowed in a host name"),
        ("http://us\x01er@example.com/", "control character in the user info"),
        ("ftp://example.com/", "scheme 'ftp' is not http or https"),
        ("mailto:a@example.com", "scheme 'mailto' is not http or https"),
        ("/relative/path", "not an absolute URL"),
        ("", "not an absolute URL"),
    ],
)
def test_refuses_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(InvalidUrl) as refused:
        parse_url(url)
    assert why in str(refused.value)
    assert repr(url)[:50].rstrip("'") in str(refused.value)  # and it names the URL
    assert normalize_url(url) is None
    with pytest.raises(InvalidUrl):  # the crawler refuses such a start URL the same way
        Frontier(url)


def test_a_long_url_is_cut_short_in_the_message() -> None:
    url = "http://example.com:99999/" + "x" * 5000
    with pytest.raises(InvalidUrl) as refused:
        parse_url(url)
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.COM:80/a/#f", "http://example.com/a"),
        ("https://example.com:65535/", "https://example.com:65535/"),
        ("http://example.com:1", "http://example.com:1/"),
        ("http://example.com./", "http://example.com./"),
        (f"http://{'a' * 63}.com/", f"http://{'a' * 63}.com/"),
        ("http://under_score.example/", "http://under_score.example/"),
        ("http://例え.テスト/x", "http://例え.テスト/x"),
        ("http://[::1]:8000/x/", "http://[::1]:8000/x"),
        ("http://127.0.0.1/", "http://127.0.0.1/"),
        ("http://u:p@example.com/", "http://u:p@example.com/"),
        ("http://example.com/a b?c d", "http://example.com/a%20b?c%20d"),
    ],
)
def test_accepts_and_canonicalises(url: str, canonical: str) -> None:
    assert parse_url(url) == canonical
    assert normalize_url(url) == canonical
    assert parse_url(canonical) == canonical


def test_resolves_against_a_base() -> None:
    assert parse_url("../b/", "http://e.com/a/c/") == "http://e.com/a/b"
    with pytest.raises(InvalidUrl, match="port"):
        parse_url("//e.com:99999/x", "http://e.com/")


@given(st.text(max_size=80), st.sampled_from([None, "http://e.com/a/", "https://[::1]:8/"]))
def test_any_text_is_parsed_or_refused_with_invalid_url_and_agrees_with_normalize(
    text: str, base: str | None
) -> None:
    try:
        canonical = parse_url(text, base)
    except InvalidUrl:
        assert normalize_url(text, base) is None
        return
    assert normalize_url(text, base) == canonical
    assert parse_url(canonical) == canonical
