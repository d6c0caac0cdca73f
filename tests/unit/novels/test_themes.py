"""The NovelFull and Madara sources on the local sites' pages, read straight from the page
generators (tests/sites/novelsite_pages.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from engine.novels.errors import ParseError
from engine.novels.sources.base import Answers, Request, Source, gather
from engine.novels.sources.madara import MadaraSource
from engine.novels.sources.novelfull import NovelFullSource
from tests.sites.novelsite import MAIN, MAIN_CHAPTERS, NovelSite, novel_site
from tests.sites.novelsite_pages import JUNK

SOURCES: dict[str, Source] = {"novelfull": NovelFullSource(), "madara": MadaraSource()}


@pytest.fixture(params=sorted(SOURCES))
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _texts(html: str, tag: str = "p") -> list[str]:
    return ["".join(e.itertext()) for e in ET.fromstring(f"<r>{html}</r>").iter(tag)]


def _answers(site: NovelSite, source: Source, slug: str = MAIN) -> Answers:
    """The site's answer to the first request the source makes."""
    (first, *_) = source.novel_requests(site.novel_url(slug), site.novel_page(slug), {})
    return {first: site.chapter_list(slug)}


def test_the_novel_page_gives_title_authors_tags_cover_and_synopsis(layout: str) -> None:
    site, source = novel_site(layout), SOURCES[layout]
    novel_model = site.novels[MAIN]
    novel = source.parse_novel(site.novel_url(), site.novel_page(), _answers(site, source))
    assert novel.url == site.novel_url()
    assert novel.title == novel_model.title  # badges dropped, case as written ("iPhone")
    assert novel.authors == novel_model.authors
    assert novel.tags == novel_model.genres
    assert novel.cover_url == f"{site.origin}/covers/{MAIN}.png"
    assert _texts(novel.synopsis) == list(novel_model.synopsis)
    assert JUNK not in novel.synopsis


def test_the_first_request_is_the_themes_chapter_list(layout: str) -> None:
    site, source = novel_site(layout), SOURCES[layout]
    wanted = source.novel_requests(site.novel_url(), site.novel_page(), {})
    novel_id = site.novels[MAIN].site_id
    assert wanted == [
        Request(url=f"{site.origin}/ajax/chapter-archive?novelId={novel_id}")
        if layout == "novelfull"
        else Request(url=f"{site.origin}/novel/{MAIN}/ajax/chapters/", method="POST")
    ]


def test_chapters_come_in_reading_order_in_volumes_of_100(layout: str) -> None:
    site, source = novel_site(layout), SOURCES[layout]
    answers = _answers(site, source)
    novel = source.parse_novel(site.novel_url(), site.novel_page(), answers)
    chapters = site.novels[MAIN].chapters
    assert len(novel.chapters) == MAIN_CHAPTERS
    assert [c.serial for c in novel.chapters] == list(range(1, MAIN_CHAPTERS + 1))
    assert [c.title for c in novel.chapters] == [c.title for c in chapters]
    assert [c.url for c in novel.chapters] == [site.chapter_url(c.serial) for c in chapters]
    assert novel.chapters[2].title == "Chapter 3: The iPhone & the <Sword>"
    assert [v.title for v in novel.volumes] == ["Volume 1", "Volume 2", "Volume 3"]
    assert [sum(c.volume == v for c in novel.chapters) for v in (1, 2, 3)] == [100, 100, 60]
    # Nothing more to ask once the list is in.
    assert set(source.novel_requests(site.novel_url(), site.novel_page(), answers)) <= set(answers)


@pytest.mark.parametrize("serial", [1, 3, 7, 260])
def test_a_chapter_page_gives_its_title_clean_text_and_images(layout: str, serial: int) -> None:
    site, source = novel_site(layout), SOURCES[layout]
    chapter = site.novels[MAIN].chapters[serial - 1]
    content = source.parse_chapter(site.chapter_url(serial), site.chapter_page(serial))
    assert content.title == chapter.title
    assert [text for text in _texts(content.html) if text] == list(chapter.paragraphs)
    assert JUNK not in content.html
    assert "<script" not in content.html
    assert "<em>" in content.html
    assert content.image_urls == tuple(site.origin + path for path in chapter.images)
    assert _texts(content.html, "img") == [""] * len(chapter.images)


def test_a_page_of_another_layout_is_refused(layout: str) -> None:
    other = novel_site("madara" if layout == "novelfull" else "novelfull")
    source = SOURCES[layout]
    with pytest.raises(ParseError, match="not a"):
        source.parse_novel(other.novel_url(), other.novel_page(), {})
    with pytest.raises(ParseError, match="no chapter text"):
        source.parse_chapter(other.chapter_url(1), other.chapter_page(1))


def test_a_chapter_list_that_could_not_be_fetched_is_an_error(layout: str) -> None:
    site, source = novel_site(layout), SOURCES[layout]
    failed = {request: None for request in _answers(site, source)}
    with pytest.raises(ParseError, match="chapter list"):
        source.parse_novel(site.novel_url(), site.novel_page(), failed)


async def test_gather_answers_rounds_until_nothing_new_is_asked(layout: str) -> None:
    site, source = novel_site(layout), SOURCES[layout]
    asked: list[Request] = []

    async def fetch(request: Request) -> str | None:
        asked.append(request)
        return site.chapter_list()

    answers = await gather(source, site.novel_url(), site.novel_page(), fetch)
    assert asked == list(answers)
    assert len(asked) == 1
    assert len(source.parse_novel(site.novel_url(), site.novel_page(), answers).chapters) == 260
