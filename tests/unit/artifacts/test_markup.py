"""Chapter HTML cleaned to the kept elements and attributes, and read as plain text."""

from __future__ import annotations

import re
from html import escape

from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from engine.artifacts.markup import clean_html, html_text, xml_safe

KNOWN = {"images/a.png"}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}

tags = st.sampled_from(
    ["p", "div", "b", "font", "script", "style", "a", "img", "table", "tr", "td", "span", "x-y",
     "h2", "br", "iframe", "center", "ul", "ol", "li", "dl", "dt", "dd", "svg", "hr", "pre",
     "blockquote", "ruby", "rt", "em", "figure", "caption", "thead", "tfoot", "tbody", "th",
     "dl", "dt", "dd"]
)  # fmt: skip
attributes = st.sampled_from(
    ['class="c"', 'id="i"', 'style="color:red"', 'onclick="x()"', 'href="https://e.example/a"',
     'href="javascript:x()"', 'href="#f"', 'src="images/a.png"', 'src="http://e.example/i.png"',
     'colspan="2"', 'rowspan="x"', 'alt="a"', ""]
)  # fmt: skip
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=8).map(escape)


@st.composite
def html_soup(draw: st.DrawFn) -> str:
    """Random nesting of kept, unwrapped and dropped elements with good and bad attributes."""
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        tag, attr, text = draw(tags), draw(attributes), draw(texts)
        parts.append(draw(st.sampled_from([f"<{tag} {attr}>{text}", f"</{tag}>", text])))
    return "".join(parts)


def elements(html: str) -> list[tuple[str, set[str]]]:
    body = LexborHTMLParser(html).body
    assert body is not None
    return [(n.tag or "", set(n.attrs)) for n in body.traverse(include_text=False)][1:]


@given(html_soup())
def test_only_kept_elements_and_attributes_survive(html: str) -> None:
    for tag, attrs in elements(clean_html(html, KNOWN)):
        assert tag not in {"script", "style", "font", "x-y", "iframe", "center", "svg"}
        assert attrs <= ALLOWED_ATTRIBUTES.get(tag, set()), (tag, attrs)


@given(html_soup())
def test_cleaning_is_idempotent(html: str) -> None:
    once = clean_html(html, KNOWN)
    assert clean_html(once, KNOWN) == once


@given(html_soup())
def test_links_and_images_never_leave_the_book(html: str) -> None:
    cleaned = LexborHTMLParser(clean_html(html, KNOWN))
    assert all(img.attrs.get("src") in KNOWN for img in cleaned.css("img"))
    assert all(img.attrs.get("alt") is not None for img in cleaned.css("img"))
    for link in cleaned.css("a[href]"):
        assert (link.attrs.get("href") or "").startswith(("https://", "http://"))


PHRASING_ONLY = set((
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "span", "em", "strong", "i", "b", "u", "s",
    "sub", "sup", "small", "code", "q", "cite", "abbr", "mark", "a",
))  # fmt: skip
NEVER_PHRASING = set((
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "li", "dl",
    "dt", "dd", "table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th", "hr",
))  # fmt: skip
PARENTS = {
    "li": {"ul", "ol"},
    "dt": {"dl"},
    "dd": {"dl"},
    "thead": {"table"},
    "tbody": {"table"},
    "tfoot": {"table"},
    "tr": {"thead", "tbody", "tfoot"},
    "td": {"tr"},
    "th": {"tr"},
}
TABLE_ORDER = ["thead", "tbody", "tfoot"]


@given(html_soup())
def test_what_remains_nests_as_xhtml_allows(html: str) -> None:
    body = LexborHTMLParser(clean_html(html, KNOWN)).body
    assert body is not None
    for node in list(body.traverse(include_text=False))[1:]:
        tag, parent = node.tag or "", node.parent
        if tag in PARENTS:
            assert parent is not None and parent.tag in PARENTS[tag], tag
        if tag in PHRASING_ONLY:
            inner = {n.tag for n in list(node.traverse(include_text=False))[1:]}
            assert not inner & NEVER_PHRASING, (tag, inner)
        if tag in ("ul", "ol", "dl", "table", "tbody", "tr"):
            assert not (node.text(deep=False) or "").strip(), tag
            assert_children_in_order(tag, [c.tag or "" for c in node.iter(include_text=False)])


def assert_children_in_order(tag: str, children: list[str]) -> None:
    if tag in ("ul", "ol"):
        assert set(children) <= {"li"}, children
    elif tag == "dl":
        assert re.fullmatch(r"(t+d+)*", "".join(c[1] for c in children)), children
    elif tag == "table":
        assert children == sorted(children, key=TABLE_ORDER.index), children
        assert all(children.count(one) <= 1 for one in ("thead", "tfoot")), children


def test_misplaced_elements_are_unwrapped_and_items_kept_apart() -> None:
    assert clean_html("<b><p>a</p><p>b</p></b>", ()) == "<p>a</p><p>b</p>"
    assert clean_html("<ul>t<li>a</li><li>b</li></ul>", ()) == "t<br>a<br>b"
    assert clean_html("<h2><div>d</div></h2><span><hr></span>", ()) == "<div>d</div><hr>"
    assert clean_html("<ol><li>ok</li></ol>", ()) == "<ol><li>ok</li></ol>"


def test_tables_out_of_order_become_text_and_ordered_ones_stay() -> None:
    late_head = "<table><tr><td>1</td><td>2</td></tr><tfoot><tr><td>f</td></tr></tfoot>"
    assert clean_html(late_head + "<thead><tr><td>h</td></tr></thead>", ()) == (
        "<br> 1 2<br> f<br> h"
    )
    ordered = "<table><thead><tr><th>h</th></tr></thead><tr><td>1</td></tr></table>"
    assert clean_html(ordered, ()) == (
        "<table><thead><tr><th>h</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
    )
    assert clean_html("<table><caption>c</caption><tr><td>1</td></tr></table>", ()) == "c<br> 1"


def test_a_page_loses_code_and_keeps_its_text() -> None:
    html = (
        "<html><head><title>t</title><style>p{}</style></head><body><!-- note -->"
        '<p class="x">Hello <font color="red">wörld</font></p><script>bad()</script>'
        '<img src="images/a.png"><img src="https://e.example/b.png" alt="b"></body></html>'
    )
    assert clean_html(html, KNOWN) == '<p>Hello wörld</p><img src="images/a.png" alt="">'


def test_numeric_table_spans_are_kept_and_others_dropped() -> None:
    html = '<table><tr><td colspan="2" rowspan="zero">1</td><td rowspan="0">2</td></tr></table>'
    assert '<td colspan="2">1</td><td>2</td>' in clean_html(html, KNOWN)


def test_text_has_a_blank_line_between_blocks_and_a_newline_for_br() -> None:
    html = (
        "<h2>Title</h2><p>one\n  two<br>three</p><div>four <b>five</b></div>"
        "<ul><li>a</li><li>b</li></ul>"
    )
    assert html_text(html) == "Title\n\none two\nthree\n\nfour five\n\na\n\nb"


def test_text_decodes_entities_and_drops_code_and_comments() -> None:
    html = (
        "<p>fish &amp; chips &lt;3 &eacute;</p><script>x = 1</script><!-- c --><style>a{}</style>"
    )
    assert html_text(html) == "fish & chips <3 é"


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_text_of_one_escaped_paragraph_is_its_words(text: str) -> None:
    words = xml_safe(text).replace("\ue000", "").replace("\ue001", "").split()
    assert html_text(f"<p>{escape(text)}</p>") == " ".join(words)


def test_the_private_use_break_marks_in_text_are_dropped_not_taken_for_breaks() -> None:
    assert html_text("<p>a\ue000b\ue001c</p>") == "abc"


def test_xml_safe_drops_control_characters_but_keeps_whitespace() -> None:
    assert xml_safe("a\x00b\x0cc\td\ne\rf\ufffeg") == "abc\td\ne\rfg"
