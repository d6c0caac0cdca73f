"""Chapter and synopsis cleaning: an allowlist serializer over a selectolax tree.

What survives: text, paragraphs, headings, emphasis, quotes, lists, tables, line breaks and
images (``src`` made absolute, ``alt`` kept); no other attribute. What goes, with its
content: scripts, styles, frames, forms and their controls, navigation, headers and
footers, media players, comments, elements whose id or class names an ad, a share bar or
navigation (``ads``, ``adsbygoogle``, ``ad-slot``, ``nav-links`` ...), hidden elements,
donation links, and whatever the caller's ``remove`` selectors match. Other elements
(``div``, ``span``, ``a``, ``font`` ...) are unwrapped: a ``div``'s loose text and inline
elements become paragraphs, a ``br`` between them a paragraph break. The output is a
well-formed XHTML fragment by construction, which an EPUB needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import urljoin

import msgspec
from selectolax.lexbor import LexborHTMLParser, LexborNode

from engine.crawl.urls import normalize_url

_CODE = {"script", "noscript", "style", "template", "link", "meta", "head", "title"}
_FORMS = {"form", "input", "button", "select", "textarea", "output"}
_MEDIA = {"iframe", "frame", "frameset", "object", "embed", "audio", "video", "source", "svg"}
_CHROME = {"nav", "header", "footer", "aside", "address", "map", "tfoot", "figcaption", "canvas"}
_ADS = {"ins", "amp-auto-ads"}
DROP = frozenset(_CODE | _FORMS | _MEDIA | _CHROME | _ADS)  # dropped with their content
BLOCKS = frozenset(["p", "h1", "h2", "h3", "h4", "h5", "h6", "pre"])  # kept, holding inline content
INLINE = frozenset(["em", "strong", "i", "b", "u", "s", "sub", "sup", "code", "small"])
LISTS = frozenset(("ul", "ol"))
TABLE = frozenset(("table", "thead", "tbody", "tr"))
CELLS = frozenset(("li", "td", "th"))
CONTAINERS = frozenset(
    ["html", "body", "div", "section", "article", "main", "figure", "center", "blockquote"]
)
_BLOCK_LEVEL = BLOCKS | CONTAINERS | LISTS | TABLE | {"br", "hr"}
JUNK_SELECTORS = (
    "[hidden]",
    "[style*='display:none']",
    "[style*='display: none']",
    "a[href*='patreon.com']",
    "a[href*='ko-fi.com']",
    "a[href*='paypal.me']",
)
# An id or class token naming an ad, a share bar or navigation: "ads", "top-ads",
# "ad_slot", "adsbygoogle", "nav-links"; not "head", "download" or "badge".
_JUNK_TOKEN = re.compile(
    r"(?:^|[-_])(?:ads?|adv|advert\w*|adsbygoogle|sponsor\w*|gpt-ad|sharedaddy|share\w*"
    r"|social|nav|navbar|navigation|pagination|breadcrumbs?|comments|disqus)(?:$|[-_\d])",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")
# Characters XML 1.0 forbids (an EPUB is XML); the whitespace ones are collapsed anyway.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TAG = re.compile(r"<(?!img\b)[^>]*>")
_IMAGE_ATTRS = ("data-src", "data-lazy-src", "data-original", "src")
MAX_DEPTH = 128  # deeper nesting is flattened to its text: no recursion blow-up on junk


class Cleaned(msgspec.Struct, frozen=True, kw_only=True):
    """A cleaned fragment and its images' absolute URLs, in order, without repeats."""

    html: str
    image_urls: tuple[str, ...] = ()


def clean_html(source: str | LexborNode, base_url: str, *, remove: Sequence[str] = ()) -> Cleaned:
    """Clean the content of ``source`` (an HTML fragment, or a node whose children are the
    content) as this module describes. Relative image URLs resolve against ``base_url``;
    images without a usable http(s) URL (e.g. ``data:`` placeholders) are dropped.
    ``remove`` holds extra CSS selectors whose matches are dropped with their content."""
    root = LexborHTMLParser(source).body if isinstance(source, str) else source
    if root is None:
        return Cleaned(html="")
    writer = _Writer(base_url, _matched(root, [*JUNK_SELECTORS, *remove]))
    writer.flow(root, 0)
    return Cleaned(html="".join(writer.out), image_urls=tuple(dict.fromkeys(writer.images)))


def _matched(root: LexborNode, selectors: Iterable[str]) -> set[int]:
    return {node.mem_id for selector in selectors for node in root.css(selector)}


def _is_junk(node: LexborNode) -> bool:
    attrs = node.attributes
    tokens = [attrs.get("id") or "", *(attrs.get("class") or "").split()]
    return any(_JUNK_TOKEN.search(token) for token in tokens if token)


class _Writer:
    """One cleaning pass: ``out`` collects block-level HTML, ``images`` the image URLs."""

    def __init__(self, base_url: str, removed: set[int]) -> None:
        self.base_url = base_url
        self.removed = removed
        self.out: list[str] = []
        self.images: list[str] = []

    def _kept(self, node: LexborNode) -> bool:
        if node.is_comment_node or node.tag in DROP:
            return False
        return node.is_text_node or (node.mem_id not in self.removed and not _is_junk(node))

    def flow(self, node: LexborNode, depth: int) -> None:
        """Emit ``node``'s children as blocks; loose inline content becomes paragraphs."""
        run: list[str] = []
        for child in node.iter(include_text=True):
            if not self._kept(child):
                continue
            if child.is_text_node or child.tag not in _BLOCK_LEVEL:
                run.append(self.inline(child, depth + 1))
                continue
            self._paragraph(run)
            run = []
            self._block(child, depth + 1)
        self._paragraph(run)

    def _paragraph(self, run: list[str]) -> None:
        text = "".join(run).strip()
        if _visible(text):
            self.out.append(f"<p>{text}</p>")

    def _block(self, node: LexborNode, depth: int) -> None:
        tag = node.tag or ""
        if tag == "hr":
            self.out.append("<hr/>")
        elif tag in BLOCKS:
            self._wrapped(tag, self.children_inline(node, depth, keep_space=tag == "pre"))
        elif tag == "blockquote" and depth < MAX_DEPTH:
            self._nested("blockquote", node, depth)
        elif tag in LISTS or tag in TABLE:
            self._structure(node, depth)
        elif tag in CONTAINERS and depth < MAX_DEPTH:
            self.flow(node, depth)
        elif tag != "br":  # a br between blocks only ends the paragraph before it
            self._wrapped("p", _text(node))

    def _wrapped(self, tag: str, inner: str) -> None:
        inner = inner if tag == "pre" else inner.strip()
        if _visible(inner):
            self.out.append(f"<{tag}>{inner}</{tag}>")

    def _nested(self, tag: str, node: LexborNode, depth: int) -> None:
        start = len(self.out)
        self.flow(node, depth)
        if len(self.out) > start:
            self.out.insert(start, f"<{tag}>")
            self.out.append(f"</{tag}>")

    def _structure(self, node: LexborNode, depth: int) -> None:
        """A list or table: only the children its structure allows, cells inline."""
        tag = node.tag or ""
        allowed = {"ul": {"li"}, "ol": {"li"}, "tr": {"td", "th"}}.get(tag, TABLE)
        parts = []
        for child in node.iter(include_text=False):
            if not self._kept(child) or child.tag not in allowed:
                continue
            if child.tag in TABLE and depth < MAX_DEPTH:
                start = len(self.out)
                self._structure(child, depth + 1)
                parts.extend(self.out[start:])
                del self.out[start:]
            elif child.tag in CELLS:
                inner = self.children_inline(child, depth + 1).strip()
                parts.append(f"<{child.tag}>{inner}</{child.tag}>")
        if parts:
            self.out.append(f"<{tag}>{''.join(parts)}</{tag}>")

    def children_inline(self, node: LexborNode, depth: int, *, keep_space: bool = False) -> str:
        if depth >= MAX_DEPTH:
            return _escaped(node.text())
        return "".join(
            self.inline(child, depth + 1, keep_space=keep_space)
            for child in node.iter(include_text=True)
            if self._kept(child)
        )

    def inline(self, node: LexborNode, depth: int, *, keep_space: bool = False) -> str:
        """``node`` as inline HTML: allowed inline tags kept, other elements unwrapped."""
        if node.is_text_node:
            text = node.text_content or ""
            return _escaped(text, keep_space=keep_space)
        tag = node.tag or ""
        if tag == "br":
            return "<br/>"
        if tag == "img":
            return self._image(node)
        inner = self.children_inline(node, depth, keep_space=keep_space)
        if tag in INLINE:
            return f"<{tag}>{inner}</{tag}>" if inner.strip() else inner
        # A block flattened into a line keeps a space on each side, so words do not run together.
        return f" {inner} " if tag in _BLOCK_LEVEL or tag in CELLS else inner

    def _image(self, node: LexborNode) -> str:
        url = _image_url(node, self.base_url)
        if url is None:
            return ""
        self.images.append(url)
        alt = _escaped(node.attributes.get("alt") or "", quote=True)
        return f'<img src="{_escaped(url, quote=True)}" alt="{alt}"/>'


def _image_url(node: LexborNode, base_url: str) -> str | None:
    for attr in _IMAGE_ATTRS:
        value = (node.attributes.get(attr) or "").strip()
        if value and not value.lower().startswith("data:"):
            return normalize_url(urljoin(base_url, value))
    return None


def _text(node: LexborNode) -> str:
    return _escaped(node.text())


def _escaped(text: str, *, keep_space: bool = False, quote: bool = False) -> str:
    """``text`` safe in XHTML: escaped, XML-forbidden characters dropped, whitespace runs
    collapsed to one space unless ``keep_space``."""
    text = _NOT_XML.sub("", text)
    return escape(text if keep_space else _SPACE.sub(" ", text), quote=quote)


def _visible(fragment: str) -> bool:
    """Whether a cleaned fragment shows anything: text other than spaces, or an image."""
    return "<img" in fragment or bool(_TAG.sub("", fragment).strip())
