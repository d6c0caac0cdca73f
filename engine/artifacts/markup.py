"""Chapter HTML made safe for e-books, and made into plain text.

Chapters come from arbitrary web pages. :func:`clean_html` keeps a small set of structural
and inline elements with a few attributes each, so the result is valid XHTML content for an
EPUB 3 once serialised as XML, and refers to nothing outside the book. :func:`html_text`
gives the text a reader would see, one paragraph per block.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Elements removed with everything inside them: code, embedded content and form controls.
_DROPPED = (
    "script", "style", "noscript", "template", "iframe", "frame", "frameset", "object",
    "embed", "applet", "canvas", "svg", "math", "audio", "video", "source", "track", "map",
    "form", "input", "button", "select", "textarea", "option", "head", "title", "meta", "link",
    "base", "dialog",
)  # fmt: skip

# Elements kept without attributes.
_PLAIN = (
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "div", "span",
    "em", "strong", "i", "b", "u", "s", "sub", "sup", "small", "code", "q", "cite", "abbr",
    "mark", "ul", "ol", "li", "dl", "dt", "dd", "table",
    "thead", "tbody", "tfoot", "tr", "body",
)  # fmt: skip

# Elements kept, each with the attributes it keeps; anything else is unwrapped (its children
# stay). No `id`, `class` or `style`: ids would collide across chapters merged by converters.
_KEPT: dict[str, frozenset[str]] = {
    **dict.fromkeys(_PLAIN, frozenset[str]()),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt"}),
}

# The HTML parser leaves some nestings that XHTML's content models forbid (a <div> in a <b>,
# an <li> outside a list); clean_html unwraps the offending element. Elements that may hold
# phrasing content only, elements that are never phrasing content, elements that need a
# certain parent, and containers that hold their items only:
_PHRASING_ONLY = frozenset((
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "span", "em", "strong", "i", "b", "u", "s",
    "sub", "sup", "small", "code", "q", "cite", "abbr", "mark", "a",
))  # fmt: skip
_FLOW_ONLY = frozenset((
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "li", "dl",
    "dt", "dd", "table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th", "hr",
))  # fmt: skip
_PARENTS = {
    "li": ("ul", "ol"),
    "dt": ("dl",),
    "dd": ("dl",),
    **dict.fromkeys(("thead", "tbody", "tfoot"), ("table",)),
    "tr": ("thead", "tbody", "tfoot"),
    "td": ("tr",),
    "th": ("tr",),
}
# Containers and the sequences of element children XHTML allows them (no text but
# whitespace either); the parser puts every table row in a section. Captions are not kept:
# the parser lets one follow the rows, or hold a table, and XHTML allows neither.
_SEQUENCES = {
    "ul": re.compile(r"(li )*"),
    "ol": re.compile(r"(li )*"),
    "dl": re.compile(r"((dt )+(dd )+)*"),
    "table": re.compile(r"(thead )?(tbody )*(tfoot )?"),
}
# What keeps the content of an unwrapped item apart from its neighbours.
_SEPARATORS = {"li": "br", "dt": "br", "dd": "br", "tr": "br", "td": " ", "th": " "}

# Elements that start a new paragraph of text.
_BLOCKS = (
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "li", "dt", "dd",
    "tr", "hr", "figure", "figcaption", "table", "caption", "ul", "ol", "dl",
)  # fmt: skip

# Characters XML 1.0 forbids: C0 controls but tab, newline and carriage return, and the
# non-characters U+FFFE and U+FFFF. Lone surrogates cannot come out of a decoded page.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Private-use marks for text breaks, which no whitespace pattern matches.
_PARAGRAPH, _LINE = "\ue000", "\ue001"
_SPACES = re.compile(r"\s+")
# Links out of the book: absolute http(s) URLs without characters a URI cannot hold.
_WEB_URL = re.compile(r"https?://[^\s<>\"{}|\\^`]+", re.IGNORECASE)


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold."""
    return _NOT_XML.sub("", text)


def clean_html(html: str, image_hrefs: Collection[str]) -> str:
    """`html` (a fragment or a whole page) as a body fragment of allowed elements only.

    Code, embedded content and comments are removed; unknown elements are unwrapped; links
    keep an ``href`` only when it is an absolute http(s) URL; an ``<img>`` stays only when
    its ``src`` is one of `image_hrefs` (the book's own ``images/<id>.<ext>``), and always
    has an ``alt``. Elements nested where XHTML forbids them are unwrapped: a phrasing
    element holding a block, a list item or table part outside its list or table, a list
    or table holding other things or in the wrong order (its items then kept apart by line
    breaks, its cells by spaces).
    """
    body = _body(html)
    for node in _elements(body):
        if (node.tag or "") in _KEPT:
            _clean_element(node, image_hrefs)
        else:
            _unwrap(node)
    for node in _elements(body):
        if _misplaced(node):
            separator = _SEPARATORS.get(node.tag or "")
            if separator is not None:
                node.insert_before(_line_break() if separator == "br" else separator)
            _unwrap(node)
    return (body.inner_html or "").strip()


def _line_break() -> LexborNode:
    br = LexborHTMLParser("<br>").css_first("br")
    assert br is not None  # the parser always makes it
    return br


def _elements(body: LexborNode) -> list[LexborNode]:
    # Document order, ancestors first; taken before any change, which only ever removes
    # a node whose descendants were visited or that has none.
    return list(body.traverse(include_text=False))[1:]


def _unwrap(node: LexborNode) -> None:
    if node.child is None:
        node.decompose()  # lexbor does not unwrap an element without children
    else:
        node.unwrap()


def _misplaced(node: LexborNode) -> bool:
    tag = node.tag or ""
    if tag in _PARENTS:
        return node.parent is None or node.parent.tag not in _PARENTS[tag]
    if tag in _SEQUENCES:
        return not _holds_in_sequence(node, _SEQUENCES[tag])
    if tag in _PHRASING_ONLY:
        return any(inner.tag in _FLOW_ONLY for inner in _elements(node))
    return False


def _children(node: LexborNode) -> list[LexborNode]:
    children, child = [], node.child
    while child is not None:
        children.append(child)
        child = child.next
    return children


def _holds_in_sequence(node: LexborNode, sequence: re.Pattern[str]) -> bool:
    tags = []
    for child in _children(node):
        if child.is_element_node:
            tags.append(f"{child.tag} ")
        elif (child.text_content or "").strip():
            return False
    return sequence.fullmatch("".join(tags)) is not None


def html_text(html: str) -> str:
    """The text of `html`: paragraphs (blocks) separated by a blank line, ``<br>`` as a line
    break, runs of whitespace as one space, images and code left out. The private-use
    characters U+E000 and U+E001 are dropped (they mark the breaks here)."""
    body = _body(html.replace(_PARAGRAPH, "").replace(_LINE, ""))
    for node in body.css(",".join(_BLOCKS)):
        node.insert_before(_PARAGRAPH)
        node.insert_after(_PARAGRAPH)
    for node in body.css("br"):
        node.insert_before(_LINE)
    text = _SPACES.sub(" ", body.text(separator=""))
    paragraphs = (_paragraph(part) for part in text.split(_PARAGRAPH))
    return "\n\n".join(part for part in paragraphs if part)


def _body(html: str) -> LexborNode:
    # A doctype puts the parser in standards mode, where a <table> ends a <p> as in XHTML.
    tree = LexborHTMLParser("<!DOCTYPE html>" + xml_safe(html))
    for node in tree.css(",".join(_DROPPED)):
        node.decompose()
    body = tree.body
    if body is None:  # the parser always makes one; this keeps the type checker honest
        return LexborHTMLParser("<body></body>").body  # type: ignore[return-value]
    for node in list(body.traverse(include_text=True)):
        if node.is_comment_node:
            node.decompose()
    return body


def _paragraph(part: str) -> str:
    lines = (line.strip() for line in part.split(_LINE))
    return "\n".join(line for line in lines if line)


def _clean_element(node: LexborNode, image_hrefs: Collection[str]) -> None:
    kept = _KEPT.get(node.tag or "", frozenset())
    attrs = node.attrs
    for name in [name for name, value in attrs.items() if not _keeps(name, value, kept)]:
        del attrs[name]
    if node.tag == "img":
        if attrs.get("src") not in image_hrefs:
            node.decompose()
        elif attrs.get("alt") is None:
            attrs["alt"] = ""


def _keeps(name: str, value: str | None, kept: frozenset[str]) -> bool:
    if name not in kept:
        return False
    if name == "href":
        return value is not None and _WEB_URL.fullmatch(value) is not None
    if name in ("colspan", "rowspan"):
        return value is not None and value.isdecimal() and 0 < int(value) < 1000
    return True
