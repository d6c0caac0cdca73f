"""Chapter cleaning (engine/novels/clean.py): junk goes, text and images stay, the output
is well-formed XHTML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from engine.novels.clean import DROP, clean_html
from tests.sites.novelsite_pages import JUNK

BASE = "http://site.test/novel/x/chapter-1.html"


def _xml(html: str) -> ET.Element:
    """The cleaned fragment read by a strict XML parser (as an EPUB reader would)."""
    return ET.fromstring(f"<root>{html}</root>")


def _paragraphs(html: str) -> list[str]:
    return ["".join(p.itertext()) for p in _xml(html).iter("p")]


def test_scripts_styles_ads_frames_forms_navigation_and_comments_go() -> None:
    html = f"""
      <p>Kept one.</p>
      <script>var a = "{JUNK}";</script><style>.{JUNK} {{}}</style><!-- {JUNK} -->
      <div class="ads">{JUNK}</div><ins class="adsbygoogle">{JUNK}</ins>
      <div id="ads-top">{JUNK}</div><p class="top-ad_2">{JUNK}</p><span class="ad">{JUNK}</span>
      <iframe src="http://x.test/">{JUNK}</iframe><noscript>{JUNK}</noscript>
      <form><input value="{JUNK}"><button>{JUNK}</button></form><nav>{JUNK}</nav>
      <div class="nav-links"><a href="/2">{JUNK}</a></div><p hidden>{JUNK}</p>
      <span style="display: none">{JUNK}</span><a href="https://patreon.com/x">{JUNK}</a>
      <p>Kept <b>two</b>.</p>
    """
    cleaned = clean_html(html, BASE)
    assert JUNK not in cleaned.html
    assert _paragraphs(cleaned.html) == ["Kept one.", "Kept two."]


def test_names_that_only_look_like_ads_stay() -> None:
    html = '<p class="head">a</p><p id="download">b</p><p class="badge shadow">c</p>'
    assert _paragraphs(clean_html(html, BASE).html) == ["a", "b", "c"]


def test_formatting_stays_and_attributes_go() -> None:
    html = (
        '<p style="color:red" onclick="x()">An <em>old</em> <strong>tale</strong>,'
        ' <i>told</i> <a href="/w">twice</a>.</p><h2 class="c">Part II</h2>'
        "<ul><li>one</li><li>two</li></ul><blockquote><p>quoted</p></blockquote>"
    )
    cleaned = clean_html(html, BASE).html
    assert cleaned == (
        "<p>An <em>old</em> <strong>tale</strong>, <i>told</i> twice.</p><h2>Part II</h2>"
        "<ul><li>one</li><li>two</li></ul><blockquote><p>quoted</p></blockquote>"
    )


def test_loose_text_and_line_breaks_become_paragraphs() -> None:
    html = "<div>First line<br><br>Second <em>line</em><br>Third</div><div>Fourth</div>"
    assert _paragraphs(clean_html(html, BASE).html) == [
        "First line",
        "Second line",
        "Third",
        "Fourth",
    ]


def test_images_get_absolute_urls_and_are_listed_once() -> None:
    html = (
        '<p><img src="../img/a.png" alt="A"></p>'
        '<img class="lazy" src="data:image/gif;base64,R0lGOD" data-src="//cdn.test/b.jpg">'
        '<img src="data:image/png;base64,iVBOR"><img src="javascript:alert(1)">'
        '<p><img src="/novel/img/a.png"></p>'
    )
    cleaned = clean_html(html, BASE)
    assert cleaned.image_urls == ("http://site.test/novel/img/a.png", "http://cdn.test/b.jpg")
    sources = [img.get("src") for img in _xml(cleaned.html).iter("img")]
    assert sources == [
        "http://site.test/novel/img/a.png",
        "http://cdn.test/b.jpg",
        "http://site.test/novel/img/a.png",
    ]


def test_the_callers_selectors_are_removed_too() -> None:
    html = '<p>Keep</p><div class="note"><p>Translator</p></div><h3>Sponsor line</h3>'
    cleaned = clean_html(html, BASE, remove=(".note", "h3"))
    assert cleaned.html == "<p>Keep</p>"


def test_a_node_is_cleaned_by_its_children() -> None:
    tree = LexborHTMLParser('<div id="body"><p>In</p></div><p>Out</p>')
    node = tree.css_first("#body")
    assert node is not None
    assert clean_html(node, BASE).html == "<p>In</p>"


@pytest.mark.parametrize("opening", ["div", "span", "blockquote", "ul><li", "table><tr><td"])
def test_deep_nesting_is_flattened_not_fatal(opening: str) -> None:
    closing = "</" + "></".join(reversed(opening.split("><"))) + ">"
    html = f"<{opening}>" * 3000 + "deep text" + closing * 3000
    cleaned = clean_html(html, BASE).html
    assert "deep text" in "".join(_xml(cleaned).itertext())


def test_characters_xml_forbids_are_dropped() -> None:
    cleaned = clean_html("<p>a\x01b\x08c\ufffed</p>", BASE)
    assert _paragraphs(cleaned.html) == ["abcd"]


_KEPT = ["p", "em", "b", "br", "img", "table", "tr", "td", "ul", "li", "ol", "pre", "h1", "hr"]
_OTHERS = ["div", "span", "script", "blockquote", "iframe", "form", "a", "nav", "section", "font"]
_TAGS = _KEPT + _OTHERS
_ATTRS = ["", ' class="ads"', ' src="/i.png"', ' data-src="x.jpg"', ' href="/x"', " hidden"]
_ATTRS += [' onclick="x()"', ' id="nav"', ' style="display:none"', ' src="data:x"']
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@st.composite
def _soup(draw: st.DrawFn) -> str:
    """Random, often broken HTML: unbalanced tags, junk and stray characters."""
    parts = []
    for _ in range(draw(st.integers(0, 25))):
        tag, attr = draw(st.sampled_from(_TAGS)), draw(st.sampled_from(_ATTRS))
        parts.append(draw(st.sampled_from([f"<{tag}{attr}>", f"</{tag}>", "<!-- c -->"])))
        parts.append(draw(_TEXT))
    return "".join(parts)


@given(_soup())
def test_any_input_gives_well_formed_xhtml_without_junk(html: str) -> None:
    cleaned = clean_html(html, BASE)
    root = _xml(cleaned.html)
    tags = {element.tag for element in root.iter()} - {"root"}
    assert not tags & DROP
    assert tags <= {*_KEPT, "tbody", "blockquote"}
    assert all(not element.attrib for element in root.iter() if element.tag != "img")
    sources = [img.get("src") for img in root.iter("img")]
    assert set(sources) == set(cleaned.image_urls)
    assert all(src and src.startswith("http://site.test/") for src in sources)


_WORDS = st.lists(st.text(alphabet="abcdefgh&<>\"'éß", min_size=1, max_size=8), min_size=1)


@given(st.lists(_WORDS, min_size=1, max_size=5))
def test_paragraph_text_survives_unchanged(paragraphs: list[list[str]]) -> None:
    texts = [" ".join(words) for words in paragraphs]
    html = "".join(f"<p>{_escape(t)}</p>" for t in texts)
    assert _paragraphs(clean_html(html, BASE).html) == texts


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
