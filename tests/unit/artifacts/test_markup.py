"""Chapter HTML cleaned to the kept elements and attributes, and read as plain text."""

from __future__ import annotations

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
     "h2", "br", "iframe", "center", "ul", "li", "svg"]
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
