"""The declarative selectors source: a checked config, a paged table of contents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.novels.errors import InvalidSourceConfig
from engine.novels.sources.base import Request, gather
from engine.novels.sources.selectors import SelectorsConfig, SelectorsSource, load_config
from tests.sites.novelsite import novel_site
from tests.sites.novelsite_pages import JUNK

ORIGIN = "http://tales.test"
CONFIG: dict[str, Any] = {
    "name": "tales",
    "hosts": ["tales.test"],
    "title": "h1.novel",
    "authors": ".meta a.author",
    "cover": ".cover img",
    "synopsis": "#about",
    "tags": ".tags a",
    "chapter_links": "ol.toc a",
    "next_page": "a[rel=next]",
    "chapter_title": "h1",
    "chapter_body": "article .text",
    "remove": [".note"],
}


def _toc_page(page: int, chapters: range, next_page: int | None) -> str:
    links = "".join(f'<li><a href="/c/{n}">Part {n}</a></li>' for n in chapters)
    nxt = f'<a rel="next" href="/tale?page={next_page}">next</a>' if next_page else ""
    head = (
        '<h1 class="novel">A &amp; B</h1><div class="meta"><a class="author">Ann</a></div>'
        '<div class="cover"><img src="/c.png"></div><div id="about"><p>About.</p></div>'
        '<div class="tags"><a>Fantasy</a><a>fantasy</a></div>'
    )
    return f"<html><body>{head if page == 1 else ''}<ol class='toc'>{links}</ol>{nxt}</body></html>"


PAGES = {
    f"{ORIGIN}/tale?page=2": _toc_page(2, range(4, 7), 3),
    f"{ORIGIN}/tale?page=3": _toc_page(3, range(7, 8), 2),  # back to page 2: a loop
}
FIRST = _toc_page(1, range(1, 4), 2)


async def _read(config: SelectorsConfig, pages: dict[str, str | None]) -> tuple[Any, list[str]]:
    source = SelectorsSource(config)
    asked: list[str] = []

    async def fetch(request: Request) -> str | None:
        asked.append(request.url)
        return pages.get(request.url)

    answers = await gather(source, f"{ORIGIN}/tale", FIRST, fetch)
    return source.parse_novel(f"{ORIGIN}/tale", FIRST, answers), asked


@pytest.mark.parametrize("document", [CONFIG, json.dumps(CONFIG), json.dumps(CONFIG).encode()])
def test_a_config_loads_from_json_or_a_mapping(document: Any) -> None:
    config = load_config(document)
    assert config.name == "tales"
    assert config.remove == (".note",)
    assert config.max_pages == 50


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"title": 3}, "title"),
        ({"bogus": "x"}, "bogus"),
        ({"name": "Not A Name"}, "name"),
        ({"chapter_body": "div[["}, "chapter_body"),
        ({"remove": ["p", "a >>> b"]}, "remove[1]"),
        ({"remove": [""]}, "remove[0]"),
        ({"hosts": ["ok.test", "a..b"]}, "hosts[1]"),
        ({"max_pages": 0}, "max_pages"),
        ({"chapter_order": "random"}, "chapter_order"),
    ],
)
def test_a_bad_config_names_the_field(change: dict[str, Any], field: str) -> None:
    document = {k: v for k, v in (CONFIG | change).items() if v is not None}
    with pytest.raises(InvalidSourceConfig) as raised:
        load_config(json.dumps(document))
    assert raised.value.field == field


@pytest.mark.parametrize("document", ["{", "[1]"])
def test_a_document_that_is_no_object_has_no_field(document: str) -> None:
    with pytest.raises(InvalidSourceConfig) as raised:
        load_config(document)
    assert raised.value.field is None


async def test_the_table_of_contents_is_followed_across_pages() -> None:
    novel, asked = await _read(load_config(CONFIG), dict(PAGES))
    assert asked == [f"{ORIGIN}/tale?page=2", f"{ORIGIN}/tale?page=3"]
    assert [(c.serial, c.title, c.url) for c in novel.chapters] == [
        (n, f"Part {n}", f"{ORIGIN}/c/{n}") for n in range(1, 8)
    ]
    assert (novel.title, novel.authors, novel.tags) == ("A & B", ("Ann",), ("Fantasy",))
    assert (novel.cover_url, novel.synopsis) == (f"{ORIGIN}/c.png", "<p>About.</p>")


async def test_max_pages_and_a_failed_page_stop_the_walk() -> None:
    capped, asked = await _read(load_config(CONFIG | {"max_pages": 2}), dict(PAGES))
    assert asked == [f"{ORIGIN}/tale?page=2"]
    assert len(capped.chapters) == 6
    broken, asked = await _read(load_config(CONFIG), {f"{ORIGIN}/tale?page=2": None})
    assert asked == [f"{ORIGIN}/tale?page=2"]
    assert len(broken.chapters) == 3


async def test_a_next_page_on_another_site_is_not_followed() -> None:
    second = _toc_page(2, range(4, 7), 3).replace('href="/tale', 'href="http://elsewhere.test/tale')
    novel, asked = await _read(load_config(CONFIG), {f"{ORIGIN}/tale?page=2": second})
    assert asked == [f"{ORIGIN}/tale?page=2"]
    assert len(novel.chapters) == 6


async def test_a_newest_first_list_is_put_in_reading_order() -> None:
    novel, _ = await _read(load_config(CONFIG | {"chapter_order": "desc"}), dict(PAGES))
    assert [c.title for c in novel.chapters] == [f"Part {n}" for n in range(7, 0, -1)]


def test_a_chapter_is_read_by_its_selectors() -> None:
    source = SelectorsSource(load_config(CONFIG))
    html = (
        "<h1>Part 1</h1><article><div class='text'><p>One.</p><p class='note'>TL note</p>"
        "<script>x()</script><p><img src='../i/1.png'></p></div></article>"
    )
    content = source.parse_chapter(f"{ORIGIN}/c/1", html)
    assert content.title == "Part 1"
    assert content.html == f'<p>One.</p><p><img src="{ORIGIN}/i/1.png" alt=""/></p>'
    assert content.image_urls == (f"{ORIGIN}/i/1.png",)


def test_selectors_read_the_novelfull_test_sites_chapters_without_code() -> None:
    site = novel_site("novelfull")
    config = CONFIG | {"chapter_title": ".chr-text", "chapter_body": "#chr-content"}
    source = SelectorsSource(load_config(config | {"remove": ["div"]}))
    content = source.parse_chapter(site.chapter_url(7), site.chapter_page(7))
    assert content.title == site.novels["the-iron-archive"].chapters[6].title
    assert JUNK not in content.html
    assert len(content.image_urls) == 2
