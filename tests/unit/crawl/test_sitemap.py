from __future__ import annotations

import gzip

from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.sitemap import SitemapResult, parse_sitemap

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
URLSET = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="{NS}">
  <url><loc> https://e.com/a </loc><lastmod>2024-01-01</lastmod></url>
  <url><loc>https://e.com/b</loc></url>
  <url><lastmod>2024-01-01</lastmod></url>
</urlset>"""
INDEX = f"""<?xml version="1.0"?>
<sitemapindex xmlns="{NS}">
  <sitemap><loc>https://e.com/s1.xml</loc></sitemap>
  <sitemap><loc>https://e.com/s2.xml.gz</loc></sitemap>
</sitemapindex>"""


def test_urlset() -> None:
    assert parse_sitemap(URLSET.encode()) == SitemapResult(
        urls=["https://e.com/a", "https://e.com/b"]
    )


def test_sitemap_index() -> None:
    result = parse_sitemap(INDEX.encode())
    assert result.sitemaps == ["https://e.com/s1.xml", "https://e.com/s2.xml.gz"]
    assert result.urls == []


def test_gzip_body() -> None:
    result = parse_sitemap(gzip.compress(URLSET.encode()))
    assert result.urls == ["https://e.com/a", "https://e.com/b"]


def test_without_namespace() -> None:
    body = b"<urlset><url><loc>https://e.com/x</loc></url></urlset>"
    assert parse_sitemap(body).urls == ["https://e.com/x"]


def test_plain_text_sitemap() -> None:
    body = b"https://e.com/1\n\nhttps://e.com/2\r\n"
    assert parse_sitemap(body).urls == ["https://e.com/1", "https://e.com/2"]


def test_entity_expansion_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<urlset><url><loc>https://e.com/&lol2;</loc></url></urlset>"""
    assert parse_sitemap(bomb) == SitemapResult()


def test_external_entity_is_refused() -> None:
    xxe = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY f SYSTEM "file:///etc/passwd">]>
<urlset><url><loc>&f;</loc></url></urlset>"""
    assert parse_sitemap(xxe) == SitemapResult()


def test_gzip_over_cap_is_empty() -> None:
    body = gzip.compress(URLSET.encode() + b" " * 10_000)
    assert parse_sitemap(body, max_bytes=1000) == SitemapResult()
    assert parse_sitemap(body).urls  # same body is fine under the default cap


def test_garbage_and_other_roots_are_empty() -> None:
    for body in (
        b"",
        b"<html><body>no</body></html>",
        b"<urlset><url>",
        b"\x1f\x8bnotgzip",
        b"hello",
    ):
        assert parse_sitemap(body) == SitemapResult()


@given(st.binary(max_size=300))
def test_never_raises(body: bytes) -> None:
    result = parse_sitemap(body)
    assert isinstance(result, SitemapResult)


@given(st.lists(st.from_regex(r"https://e\.com/[a-z0-9]{0,8}", fullmatch=True), max_size=20))
def test_roundtrip_generated_urlset(urls: list[str]) -> None:
    body = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    xml = f'<urlset xmlns="{NS}">{body}</urlset>'.encode()
    assert parse_sitemap(xml).urls == urls
    assert parse_sitemap(gzip.compress(xml)).urls == urls
