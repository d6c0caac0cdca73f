"""Books unlike the sample still make epubs that epubcheck accepts: a bare one, and one
whose chapters are hostile or random web HTML."""

from __future__ import annotations

import random
from pathlib import Path

from engine.artifacts.book import Book, BookChapter, BookVolume, Image
from engine.artifacts.epub import write_epub
from tests.integration.artifacts.tools import assert_valid_epub, needs_epubcheck
from tests.unit.artifacts.books import GIF, png

pytestmark = needs_epubcheck

HOSTILE = [
    "<html><head><title>x</title><script>alert(1)</script></head><body><p>in a page</p>",
    '<p onclick="x()" style="color:red" id="a">dup id</p><p id="a">again</p>',
    '<img src="https://cdn.example/remote.png"><img src="images/pic.png" width="10">',
    '<a href="javascript:alert(1)">js</a> <a href="#top">frag</a> <a href="http://a b">sp</a>',
    "<font color=red><center>old tags</center></font><marquee>scroll</marquee>",
    "<b><p>block in bold</p></b><h2><div>div in heading</div></h2><span><hr></span>",
    "<ul>text<li>item</li><p>para</p></ul><li>stray</li><dd>stray dd</dd>",
    "<p>table in p<table><tr><td colspan=x>1</td><th rowspan=2>2</th></tr></table></p>",
    "<svg><circle r=1 /></svg><math><mi>x</mi></math><iframe src=x></iframe><form><input>",
    "ctrl\x01chars\x0b and &nbsp;&copy;&#0; &bogus; <!-- a -- comment -->",
    "<ruby>漢<rp>(</rp><rt>kan</rt><rp>)</rp></ruby><rt>stray</rt>",
    "<p><a href='https://ok.example/'><div>block link</div></a></p><pre><p>pre p</p></pre>",
    "<dl><dd>dd first</dd><dt>t</dt></dl><dl><dt>no dd</dt></dl>",
    "<table><caption><table><tr><td>x</td></tr></table></caption></table>",
    "<table><tfoot><tr><td>f</td></tr></tfoot><tr><td>1</td></tr></table>",
    "",
    "plain text, no tags at all",
]

TAGS = ["p", "div", "b", "i", "span", "a", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr",
        "td", "th", "h1", "h3", "blockquote", "pre", "font", "hr", "br", "img", "em", "sub",
        "ruby", "rt", "caption", "tbody", "x-tag", "script", "q"]  # fmt: skip
ATTRS = ['', 'class="c"', 'href="https://e.example/x"', 'src="images/pic.png"',
         'src="images/nope.png"', 'colspan="2"', 'id="same"', 'style="x"']  # fmt: skip


def soup(rng: random.Random) -> str:
    """Random tags, open and closed at random, with random attributes and text."""
    parts = []
    for _ in range(rng.randint(1, 40)):
        tag = rng.choice(TAGS)
        kind = rng.random()
        if kind < 0.45:
            parts.append(f"<{tag} {rng.choice(ATTRS)}>")
        elif kind < 0.8:
            parts.append(f"</{tag}>")
        parts.append(rng.choice(["word", "é 東京", " ", "&amp;", "<", ">", "\n"]))
    return "".join(parts)


def test_a_bare_book_is_valid(tmp_path: Path) -> None:
    chapter = BookChapter(title="", html="")
    book = Book(title="<Only> & a chapter", volumes=[BookVolume(title="", chapters=[chapter])])
    assert_valid_epub(write_epub(book, tmp_path / "bare.epub"))


def test_hostile_and_random_chapters_make_a_valid_epub(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    htmls = HOSTILE + [soup(rng) for _ in range(60)]
    chapters = [BookChapter(title=f"c{n}\x07 <b>", html=h) for n, h in enumerate(htmls)]
    book = Book(
        title="Hostile\x00 book",
        authors=["A & B <c>", ""],
        language="ja",
        synopsis="s\x0c\n\n\n\nmore",
        tags=["x&y"],
        source_url="not a url",
        cover=Image(media_type="image/gif", data=GIF),
        volumes=[
            BookVolume(title="empty volume"),
            BookVolume(title="all", chapters=chapters),
            BookVolume(title="  ", chapters=chapters[:3]),
        ],
        images={"pic": Image(media_type="image/png", data=png(3, 3, (1, 2, 3)))},
    )
    assert_valid_epub(write_epub(book, tmp_path / "hostile.epub"))
