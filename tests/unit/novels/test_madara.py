"""Madara specifics: the admin-ajax fallback, lists on the page, volumes."""

from __future__ import annotations

import pytest

from engine.novels.errors import ParseError
from engine.novels.sources.base import Request
from engine.novels.sources.madara import MadaraSource, chapters_url
from tests.sites.novelsite import MAIN, VOLUMES, madara_inline_page, novel_site

SOURCE = MadaraSource()


def _requests(site_id: int, origin: str) -> tuple[Request, Request]:
    primary = Request(url=f"{origin}/novel/{MAIN}/ajax/chapters/", method="POST")
    form = (("action", "manga_get_chapters"), ("manga", str(site_id)))
    return primary, Request(url=f"{origin}/wp-admin/admin-ajax.php", method="POST", form=form)


@pytest.mark.parametrize("primary_answer", [None, "<div>nothing here</div>"])
def test_without_chapters_from_the_novel_endpoint_it_asks_admin_ajax(
    primary_answer: str | None,
) -> None:
    site = novel_site("madara")
    primary, fallback = _requests(site.novels[MAIN].site_id, site.origin)
    url, page = site.novel_url(), site.novel_page()
    assert SOURCE.novel_requests(url, page, {}) == [primary]
    answers: dict[Request, str | None] = {primary: primary_answer}
    assert SOURCE.novel_requests(url, page, answers) == [primary, fallback]
    answers[fallback] = site.chapter_list()
    novel = SOURCE.parse_novel(url, page, answers)
    assert [c.url for c in novel.chapters] == [site.chapter_url(n) for n in range(1, 261)]


def test_chapters_from_the_novel_endpoint_need_no_fallback() -> None:
    site = novel_site("madara")
    primary, _ = _requests(site.novels[MAIN].site_id, site.origin)
    answers = {primary: site.chapter_list()}
    assert SOURCE.novel_requests(site.novel_url(), site.novel_page(), answers) == [primary]


def test_without_a_manga_id_there_is_no_fallback() -> None:
    site = novel_site("madara")
    page = site.novel_page().replace('id="manga-chapters-holder"', 'id="holder"')
    primary, _ = _requests(site.novels[MAIN].site_id, site.origin)
    assert SOURCE.novel_requests(site.novel_url(), page, {primary: None}) == [primary]
    with pytest.raises(ParseError, match="could not be fetched"):
        SOURCE.parse_novel(site.novel_url(), page, {primary: None})


def test_an_empty_answer_is_a_novel_without_chapters() -> None:
    site = novel_site("madara")
    primary, fallback = _requests(site.novels[MAIN].site_id, site.origin)
    answers = {primary: "<ul class='main'></ul>", fallback: None}
    novel = SOURCE.parse_novel(site.novel_url(), site.novel_page(), answers)
    assert novel.chapters == ()
    assert novel.volumes == ()


def test_a_page_listing_its_chapters_needs_no_request() -> None:
    site = novel_site("madara")
    page = madara_inline_page(site)
    assert SOURCE.novel_requests(site.novel_url(), page, {}) == []
    novel = SOURCE.parse_novel(site.novel_url(), page, {})
    assert [c.serial for c in novel.chapters] == list(range(1, 261))
    assert novel.chapters[0].url == site.chapter_url(1)


def test_volumes_come_oldest_first_with_their_chapters() -> None:
    site = novel_site("madara")
    model = site.novels[VOLUMES]
    url = site.novel_url(VOLUMES)
    answers = {Request(url=chapters_url(url), method="POST"): site.chapter_list(VOLUMES)}
    novel = SOURCE.parse_novel(url, site.novel_page(VOLUMES), answers)
    assert [v.title for v in novel.volumes] == list(model.volumes)
    assert [(c.title, c.volume) for c in novel.chapters] == [
        (c.title, c.volume + 1) for c in model.chapters
    ]


@pytest.mark.parametrize(
    ("novel_url", "expected"),
    [
        ("http://s.test/novel/x/", "http://s.test/novel/x/ajax/chapters/"),
        ("http://s.test/novel/x", "http://s.test/novel/x/ajax/chapters/"),
        ("http://s.test/novel/x/?ref=home#top", "http://s.test/novel/x/ajax/chapters/"),
    ],
)
def test_the_chapters_endpoint_is_under_the_novel(novel_url: str, expected: str) -> None:
    assert chapters_url(novel_url) == expected
