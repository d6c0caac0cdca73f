from __future__ import annotations

import html

import html_to_markdown
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.extract import decode_html, extract
from engine.crawl.urls import normalize_url

ALL = {"markdown", "html", "text", "links"}

DOC = """<!doctype html><html><head>
<title>  The   Title </title>
<meta name="Description" content=" A  description. ">
<meta property="og:title" content="OG title">
<style>body { color: red }</style>
</head><body>
<h1>Heading</h1>
<p>Some <b>bold</b> text with <a href="/rel/">a link</a>.</p>
<a href="other#frag">same dir</a>
<a href="/rel">duplicate after normalisation</a>
<a href="mailto:a@b.c">mail</a>
<a href="javascript:void(0)">js</a>
<a href="JavaScript:alert(1)">js2</a>
<a href="tel:+123">tel</a>
<a>no href</a>
<a href="https://Other.ORG/x/">external</a>
<script>document.write("hidden")</script>
</body></html>"""

URL = "https://example.com/dir/page"


def test_metadata() -> None:
    out = extract(DOC, URL, set())
    assert out.title == "The Title"
    assert out.description == "A description."


def test_links_absolute_normalised_deduped_in_order() -> None:
    out = extract(DOC, URL, {"links"})
    assert out.links == [
        "https://example.com/rel",
        "https://example.com/dir/other",
        "https://other.org/x",
    ]


def test_only_requested_formats_are_filled() -> None:
    out = extract(DOC, URL, {"links"})
    assert out.markdown is None and out.html is None and out.text is None
    assert extract(DOC, URL, {"markdown"}).links == []


def test_markdown_and_text() -> None:
    out = extract(DOC, URL, ALL)
    assert out.markdown is not None and out.text is not None
    assert "# Heading" in out.markdown
    assert "[a link](https://example.com/rel/)" in out.markdown
    assert "hidden" not in out.markdown and "color: red" not in out.markdown
    assert "Heading" in out.text and "#" not in out.text.split("\n")[0]


def test_html_format_strips_scripts_and_styles() -> None:
    out = extract(DOC, URL, {"html"})
    assert out.html is not None
    assert "<h1>Heading</h1>" in out.html
    assert "<script" not in out.html and "<style" not in out.html


def test_base_href_is_respected() -> None:
    doc = (
        '<html><head><base href="https://cdn.example.com/base/"></head>'
        '<body><a href="x">x</a></body></html>'
    )
    assert extract(doc, URL, {"links"}).links == ["https://cdn.example.com/base/x"]


def test_relative_base_href_and_fragment_links() -> None:
    doc = '<head><base href="/docs/"></head><a href="a">a</a><a href="#top">top</a>'
    assert extract(doc, URL, {"links"}).links == [
        "https://example.com/docs/a",
        "https://example.com/docs",
    ]


def test_non_http_base_is_ignored() -> None:
    doc = '<head><base href="javascript:x"></head><a href="a">a</a>'
    assert extract(doc, URL, {"links"}).links == ["https://example.com/dir/a"]


def test_og_fallbacks() -> None:
    doc = (
        '<head><meta property="og:title" content="OG"><meta property="og:description" '
        'content="OG desc"></head>'
    )
    out = extract(doc, URL, set())
    assert (out.title, out.description) == ("OG", "OG desc")


def test_missing_metadata_is_none() -> None:
    out = extract("<p>plain</p>", URL, set())
    assert out.title is None and out.description is None


def test_bytes_input_uses_meta_charset() -> None:
    doc = '<meta charset="iso-8859-1"><title>Caf\xe9</title>'.encode("latin-1")
    assert extract(doc, URL, set()).title == "Caf\xe9"


def test_decode_html_prefers_header_charset() -> None:
    body = "é".encode("utf-16")
    assert decode_html(body, "text/html; charset=utf-16") == "é"
    assert decode_html(b"caf\xc3\xa9", None) == "café"
    assert decode_html(b"caf\xff", "text/html; charset=nonsense") == "caf\ufffd"


def test_garbage_does_not_raise() -> None:
    out = extract(b"\x00\xff<<<>>><a href='/x'", URL, ALL)
    assert out.markdown is not None


_hrefs = st.sampled_from(
    ["/a", "/a/", "b", "../c", "#f", "?q=1", "mailto:x@y.z", "javascript:x()", "HTTP://E.COM/",
     "https://example.com/a#z", "//cdn.example.com/x/", "ftp://x/", "", " /spaced ", "/ü"]
)  # fmt: skip


@given(st.lists(_hrefs, max_size=15))
def test_links_are_normalised_unique_and_http(hrefs: list[str]) -> None:
    doc = "".join(f'<a href="{html.escape(h)}">x</a>' for h in hrefs)
    links = extract(doc, URL, {"links"}).links
    assert len(links) == len(set(links))
    assert all(normalize_url(link) == link for link in links)
    assert all(link.startswith(("http://", "https://")) for link in links)
    # Empty hrefs (a link to the page itself) are ignored like mailto:/javascript:.
    followed = [h for h in hrefs if h.strip() and not h.startswith(("mailto:", "javascript:"))]
    assert set(links) == {normalize_url(h, URL) for h in followed} - {None}


RICH = """<html><head><base href="/docs/"><title>t</title></head><body>
<h2>Lists</h2><ul><li>one <i>it</i></li><li>two<ol><li>nested</li></ol></li></ul>
<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td><a href="x.html">x</a></td></tr></table>
<pre><code class="language-py">print("*hi*")</code></pre><blockquote>quoted_text</blockquote>
<img src="img/p.png" alt="pic"><p>a&nbsp;b &amp; c<br>next line_with_underscores</p>
<dl><dt>term</dt><dd>definition</dd></dl><hr><p><sub>2</sub> <sup>3</sup> <s>gone</s></p>
</body></html>"""


@pytest.mark.parametrize("doc", [DOC, RICH])
@pytest.mark.parametrize(("fmt", "name"), [("markdown", "markdown"), ("text", "plain")])
def test_conversion_matches_the_public_api_with_its_defaults(doc: str, fmt: str, name: str) -> None:
    """extract() builds the native options itself; the output must be the public API's."""
    base = "https://example.com/a/b"
    public = html_to_markdown.convert(
        doc,
        html_to_markdown.ConversionOptions(
            extract_metadata=False, base_url=base, output_format=name
        ),
    ).content
    assert getattr(extract(doc, base, {fmt}), fmt) == public
