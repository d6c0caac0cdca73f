"""Content extraction from one HTML document: metadata, links, markdown, text."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from urllib.parse import urljoin

import html_to_markdown
import msgspec
from html_to_markdown import _html_to_markdown as native
from selectolax.lexbor import LexborHTMLParser

from engine.crawl.urls import normalize_url

FORMATS = frozenset({"markdown", "html", "text", "links"})
_NOISE_TAGS = ["script", "style", "noscript", "template"]
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
_CT_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)


class Extracted(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`extract` found in one document; unrequested formats are None/empty."""

    title: str | None = None
    description: str | None = None
    links: list[str] = msgspec.field(default_factory=list)
    markdown: str | None = None
    html: str | None = None
    text: str | None = None


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode an HTML body: charset from ``content_type``, else a <meta charset>, else UTF-8.

    Undecodable bytes are replaced, unknown charsets fall back to UTF-8; never raises.
    """
    match = _CT_CHARSET.search(content_type or "")
    charset = match.group(1) if match else _sniff_meta_charset(body)
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return body.decode(charset, "replace")


def _sniff_meta_charset(body: bytes) -> str:
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii") if match else "utf-8"


def extract(html: str | bytes, url: str, formats: Iterable[str]) -> Extracted:
    """Extract metadata and the requested ``formats`` from a document fetched from ``url``.

    ``formats`` is a subset of {"markdown", "html", "text", "links"}; unknown names
    are ignored. Title comes from <title> (else og:title), description from
    meta description (else og:description); both are whitespace-collapsed.
    ``links`` are a[href] targets resolved against <base href> (else ``url``),
    normalised, limited to http/https, deduplicated and in document order.
    ``html`` is the document without script/style/noscript/template elements.
    ``markdown`` / ``text`` are None if the converter rejects the document.
    """
    source = decode_html(html) if isinstance(html, bytes) else html
    wanted = FORMATS.intersection(formats)
    tree = LexborHTMLParser(source)
    base = _base_url(tree, url)
    title, description = _title(tree), _description(tree)
    links = _links(tree, base) if "links" in wanted else []
    cleaned = _cleaned_html(tree) if "html" in wanted else None
    return Extracted(
        title=title,
        description=description,
        links=links,
        markdown=_convert(source, base, "markdown") if "markdown" in wanted else None,
        html=cleaned,
        text=_convert(source, base, "plain") if "text" in wanted else None,
    )


def _collapse(value: str | None) -> str | None:
    if value is None:
        return None
    collapsed = " ".join(value.split())
    return collapsed or None


def _meta(tree: LexborHTMLParser, *names: str) -> str | None:
    """Content of the first <meta name|property=...> whose key is in ``names``."""
    for node in tree.css("meta[content]"):
        attrs = node.attributes
        key = (attrs.get("name") or attrs.get("property") or "").strip().lower()
        if key in names:
            value = _collapse(attrs.get("content"))
            if value:
                return value
    return None


def _title(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("title")
    title = _collapse(node.text()) if node is not None else None
    return title or _meta(tree, "og:title")


def _description(tree: LexborHTMLParser) -> str | None:
    return _meta(tree, "description") or _meta(tree, "og:description")


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    node = tree.css_first("base[href]")
    href = node.attributes.get("href") if node is not None else None
    if not href:
        return url
    # The base is joined but not normalised: its trailing slash changes how
    # relative links resolve.
    base = urljoin(url, href.strip())
    return base if normalize_url(base) is not None else url


def _links(tree: LexborHTMLParser, base: str) -> list[str]:
    found: dict[str, None] = {}
    # Pages repeat hrefs (navigation, footers); the same href resolves to the same
    # target, so each distinct href is resolved once.
    hrefs: set[str] = set()
    for node in tree.css("a[href]"):
        href = (node.attributes.get("href") or "").strip()
        if href in hrefs:
            continue
        hrefs.add(href)
        target = _href_target(href, base)
        if target is not None:
            found.setdefault(target, None)
    return list(found)


def _href_target(href: str, base: str) -> str | None:
    """The normalised target of a stripped href, or None for non-navigating schemes."""
    if not href or href.lower().startswith(("javascript:", "mailto:", "tel:", "data:")):
        return None
    return normalize_url(href, base)


def _cleaned_html(tree: LexborHTMLParser) -> str:
    tree.strip_tags(_NOISE_TAGS)
    return tree.html or ""


_OUTPUT = {"markdown": native.OutputFormat.MARKDOWN, "plain": native.OutputFormat.PLAIN}


def _convert(source: str, base: str, output_format: str) -> str | None:
    # The native options are built directly: the public convert() rebuilds them from its
    # Python dataclass on every call, which cost more than the conversion itself (~65 of
    # ~100 us for a small page). Only non-defaults are given; the defaults of the two are
    # the same (tests/unit/crawl/test_extract.py compares the outputs).
    options = native.ConversionOptions(
        extract_metadata=False, base_url=base, output_format=_OUTPUT[output_format]
    )
    try:
        content = native.convert(html=source, options=options).content
    except html_to_markdown.ConversionError:
        return None
    return content if content is not None else ""
