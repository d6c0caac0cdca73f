"""Sitemap parsing (sitemaps.org protocol): urlset, sitemapindex, gzip and plain text."""

from __future__ import annotations

import re
import zlib
from xml.etree import ElementTree as ET

import msgspec

from engine.crawl.errors import TooLarge

# The protocol caps an uncompressed sitemap at 50 MB; the cap also defuses gzip bombs.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# Any DTD is refused: sitemaps never need one and it is the door for entity expansion.
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class SitemapResult(msgspec.Struct, frozen=True, kw_only=True):
    """Page URLs (``urls``) and nested sitemap URLs (``sitemaps``) found in one sitemap."""

    urls: list[str] = msgspec.field(default_factory=list)
    sitemaps: list[str] = msgspec.field(default_factory=list)


def parse_sitemap(body: bytes, *, max_bytes: int = MAX_SITEMAP_BYTES) -> SitemapResult:
    """Parse a sitemap body; never raises.

    Gzip bodies (magic 1f 8b) are inflated up to ``max_bytes``. ``<urlset>`` gives
    ``urls``, ``<sitemapindex>`` gives ``sitemaps``; a plain-text sitemap (one
    http(s) URL per line) gives ``urls``. Garbage, DTDs, and bodies over the cap
    give an empty result. Loc values are returned stripped but not normalised.
    """
    try:
        data = _gunzip(body, max_bytes) if body.startswith(_GZIP_MAGIC) else body[:max_bytes]
    except (TooLarge, zlib.error, EOFError):
        return SitemapResult()
    if _DTD.search(data):
        return SitemapResult()
    if data.lstrip().startswith(b"<"):
        return _parse_xml(data)
    return _parse_text(data)


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    data = inflater.decompress(body, max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"sitemap inflates beyond {max_bytes} bytes")
    return data


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _parse_xml(data: bytes) -> SitemapResult:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return SitemapResult()
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        return SitemapResult()
    locs = [_loc(entry) for entry in root]
    found = [loc for loc in locs if loc]
    return SitemapResult(urls=found) if kind == "urlset" else SitemapResult(sitemaps=found)


def _loc(entry: ET.Element) -> str | None:
    for child in entry:
        if _local(child.tag) == "loc" and child.text:
            return child.text.strip() or None
    return None


def _parse_text(data: bytes) -> SitemapResult:
    lines = data.decode("utf-8", "replace").splitlines()
    urls = [line.strip() for line in lines if line.strip()]
    if not urls or not all(u.startswith(("http://", "https://")) for u in urls):
        return SitemapResult()
    return SitemapResult(urls=urls)
