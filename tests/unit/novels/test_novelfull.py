"""NovelFull specifics: where the novel id and the chapter list are found."""

from __future__ import annotations

import pytest

from engine.novels.errors import ParseError
from engine.novels.sources.base import Request
from engine.novels.sources.novelfull import NovelFullSource
from tests.sites.novelsite import MAIN, novel_site

SOURCE = NovelFullSource()


def test_without_a_novel_id_the_chapter_list_cannot_be_asked_for() -> None:
    site = novel_site("novelfull")
    page = site.novel_page().replace("data-novel-id", "data-other")
    with pytest.raises(ParseError, match="novel id"):
        SOURCE.novel_requests(site.novel_url(), page, {})


def test_a_script_naming_the_option_list_is_followed() -> None:
    site = novel_site("novelfull")
    novel_id = site.novels[MAIN].site_id
    script = "<script>var ajaxChapterOptionUrl = '/ajax/chapter-option';</script></body>"
    page = site.novel_page().replace("</body>", script)
    request = Request(url=f"{site.origin}/ajax/chapter-option?novelId={novel_id}")
    assert SOURCE.novel_requests(site.novel_url(), page, {}) == [request]
    options = "".join(
        f'<option value="{site.chapter_url(n)}">Chapter {n}</option>' for n in range(1, 4)
    )
    answers = {request: f"<select class='chapter_jump'>{options}</select>"}
    novel = SOURCE.parse_novel(site.novel_url(), page, answers)
    assert [(c.title, c.url) for c in novel.chapters] == [
        (f"Chapter {n}", site.chapter_url(n)) for n in range(1, 4)
    ]


def test_a_page_listing_its_chapters_needs_no_request() -> None:
    site = novel_site("novelfull")
    page = site.novel_page().replace(
        '<div id="list-chapter" class="tab-pane"></div>', site.chapter_list()
    )
    assert SOURCE.novel_requests(site.novel_url(), page, {}) == []
    assert len(SOURCE.parse_novel(site.novel_url(), page, {}).chapters) == 260


def test_the_chapter_title_falls_back_to_the_heading() -> None:
    html = "<h2>Chapter 9: Plain</h2><div id='chapter-content'><p>Text</p></div>"
    content = SOURCE.parse_chapter("http://s.test/x/chapter-9.html", html)
    assert (content.title, content.html) == ("Chapter 9: Plain", "<p>Text</p>")


@pytest.mark.parametrize(
    "named",
    ["http://169.254.169.254/latest", "//elsewhere.test/ajax/list", "https://novels.test/x"],
)
def test_an_option_list_on_another_site_is_not_asked_for(named: str) -> None:
    site = novel_site("novelfull")
    script = f"<script>var ajaxChapterOptionUrl = '{named}';</script></body>"
    page = site.novel_page().replace("</body>", script)
    (request,) = SOURCE.novel_requests(site.novel_url(), page, {})
    assert request.url.startswith(f"{site.origin}/ajax-chapter-option?novelId=")
