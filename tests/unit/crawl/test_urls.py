from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.urls import _clean, in_scope, normalize_url, origin_of, path_allowed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/a/", "http://example.com/a"),
        ("https://example.com:443/x?q=1#frag", "https://example.com/x?q=1"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/", "http://example.com:8080/"),
        ("https://example.com:80/", "https://example.com:80/"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com/a//", "http://example.com/a"),
        ("http://example.com/?b=2&a=1", "http://example.com/?b=2&a=1"),
        ("http://example.com/A/B", "http://example.com/A/B"),
        ("http://[::1]:8000/x/", "http://[::1]:8000/x"),
        ("  http://example.com/padded  ", "http://example.com/padded"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("http://user:pw@Example.com/", "http://user:pw@example.com/"),
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "mailto:someone@example.com",
        "javascript:void(0)",
        "ftp://example.com/file",
        "data:text/plain,hi",
        "http:///nohost",
        "http://example.com:99999/",
        "http://[broken/",
        "",
        "/relative/without/base",
    ],
)
def test_normalize_rejects(raw: str) -> None:
    assert normalize_url(raw) is None


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("b", "http://e.com/a/", "http://e.com/a/b"),
        ("b", "http://e.com/a", "http://e.com/b"),
        ("../c/", "http://e.com/a/b/", "http://e.com/a/c"),
        ("//other.org/x", "https://e.com/", "https://other.org/x"),
        ("#frag", "http://e.com/p?q=1", "http://e.com/p?q=1"),
        ("?q=2", "http://e.com/p?q=1", "http://e.com/p?q=2"),
        ("HTTP://E.COM/Z/", "http://e.com/", "http://e.com/Z"),
    ],
)
def test_normalize_resolves_relative(href: str, base: str, expected: str) -> None:
    assert normalize_url(href, base) == expected


_hosts = st.from_regex(r"[A-Za-z0-9]{1,8}(\.[A-Za-z0-9]{1,8}){0,2}", fullmatch=True)
_segments = st.lists(st.text(alphabet="abcXYZ09-._~% /:@!$&'()*+,;=", max_size=6), max_size=4)
_urls = st.builds(
    lambda scheme, host, port, segs, slash, query, frag: (
        f"{scheme}://{host}{port}/{'/'.join(segs)}{slash}{query}{frag}"
    ),
    st.sampled_from(["http", "https", "HTTP", "Https"]),
    _hosts,
    st.sampled_from(["", ":80", ":443", ":8080", ":1"]),
    _segments,
    st.sampled_from(["", "/", "//"]),
    st.sampled_from(["", "?", "?a=1", "?a=1&b= 2"]),
    st.sampled_from(["", "#", "#x", "#a/b"]),
)


@given(_urls)
def test_normalize_is_idempotent_on_urls(url: str) -> None:
    once = normalize_url(url)
    assert once is not None
    assert normalize_url(once) == once


@given(st.text(max_size=60))
def test_normalize_is_idempotent_on_any_text(text: str) -> None:
    once = normalize_url(text)
    if once is not None:
        assert normalize_url(once) == once


@given(_urls)
def test_normalized_form_properties(url: str) -> None:
    out = normalize_url(url)
    assert out is not None
    parts = urlsplit(out)
    assert parts.scheme in ("http", "https")
    assert parts.fragment == "" and "#" not in out
    assert parts.netloc == parts.netloc.lower()
    assert parts.path == "/" or not parts.path.endswith("/")
    assert parts.port != {"http": 80, "https": 443}[parts.scheme]


@pytest.mark.parametrize(
    ("url", "root", "subdomains", "expected"),
    [
        ("http://example.com/a", "example.com", False, True),
        ("http://www.example.com/a", "example.com", False, True),
        ("http://example.com/a", "www.example.com", False, True),
        ("http://blog.example.com/a", "example.com", False, False),
        ("http://blog.example.com/a", "example.com", True, True),
        ("http://blog.example.com/a", "www.example.com", True, True),
        ("http://notexample.com/", "example.com", True, False),
        ("http://example.com.evil.org/", "example.com", True, False),
        ("http://127.0.0.1:8000/x", "127.0.0.1:8000", False, True),
        ("http://127.0.0.1:9000/x", "127.0.0.1:8000", False, False),
        ("http://example.com/", "example.com:80", False, True),
        ("https://example.com:8443/", "example.com", False, True),
        ("mailto:a@example.com", "example.com", False, False),
    ],
)
def test_in_scope(url: str, root: str, subdomains: bool, expected: bool) -> None:
    assert in_scope(url, root, subdomains) is expected


@pytest.mark.parametrize(
    ("path", "include", "exclude", "expected"),
    [
        ("/blog/post", [], [], True),
        ("/blog/post", ["/blog/*"], [], True),
        ("/blog/a/b", ["/blog/*"], [], True),
        ("/docs/x", ["/blog/*"], [], False),
        ("/blog", ["/blog/*"], [], False),
        ("/blog/post", ["blog/*"], [], True),
        ("/blog/drafts/x", ["/blog/*"], ["/blog/drafts/*"], False),
        ("/img/a.png", [], ["*.png"], False),
        ("/Blog/post", ["/blog/*"], [], False),
        ("/", ["/"], [], True),
    ],
)
def test_path_allowed(path: str, include: list[str], exclude: list[str], expected: bool) -> None:
    assert path_allowed("http://e.com" + path, include, exclude) is expected


def test_origin_of() -> None:
    assert origin_of("https://e.com:8443/a?b") == "https://e.com:8443"


@given(st.text())
def test_the_blank_check_agrees_with_str_predicates(text: str) -> None:
    """The ASCII fast path of _clean gives what the per-character definition gives."""
    assert _clean(text) == all(c.isprintable() and not c.isspace() for c in text)
