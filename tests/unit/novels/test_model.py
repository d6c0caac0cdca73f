"""Stable ids: one per novel or chapter page, whatever the spelling of its URL."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.urls import normalize_url
from engine.novels.errors import InvalidNovelUrl
from engine.novels.model import ChapterRef, NovelInfo, chapter_id, novel_id, url_id

BASE = "http://site.test/novel/x"


@pytest.mark.parametrize(
    "spelling",
    [
        "http://site.test/novel/x",
        "https://site.test/novel/x",
        "HTTP://WWW.Site.Test/novel/x/",
        "http://site.test:80/novel/x#comments",
        "  http://site.test/novel/x/  ",
    ],
)
def test_spellings_of_one_url_share_an_id(spelling: str) -> None:
    assert novel_id(spelling) == novel_id(BASE)


@pytest.mark.parametrize(
    "other",
    [
        "http://site.test/novel/y",
        "http://site.test/Novel/x",  # paths are case-sensitive
        "http://site.test/novel/x?page=2",
        "http://site.test:8080/novel/x",
        "http://other.test/novel/x",
    ],
)
def test_other_pages_have_other_ids(other: str) -> None:
    assert url_id(other) != url_id(BASE)


def test_ids_are_16_hex_digits_and_models_expose_them() -> None:
    chapter = ChapterRef(serial=1, title="One", url=BASE + "/chapter-1/", volume=1)
    novel = NovelInfo(url=BASE + "/", title="X")
    assert novel.id == novel_id(BASE)
    assert chapter.id == chapter_id(BASE + "/chapter-1")
    assert len(chapter.id) == 16
    assert int(chapter.id, 16) >= 0


def test_an_international_host_and_its_punycode_share_an_id() -> None:
    assert url_id("http://bücher.test/n") == url_id("http://xn--bcher-kva.test/n")


@pytest.mark.parametrize("bad", ["not a url", "/novel/x", "ftp://site.test/x", "http://"])
def test_a_url_that_is_not_absolute_http_is_refused(bad: str) -> None:
    with pytest.raises(InvalidNovelUrl):
        url_id(bad)


_PATHS = st.lists(st.text(alphabet="abcXYZ019-_.~", min_size=1, max_size=8), max_size=4)


@given(_PATHS, st.sampled_from(["", "/", "#frag", "/#frag"]))
def test_the_id_is_that_of_the_normalised_url(segments: list[str], suffix: str) -> None:
    url = "http://site.test/" + "/".join(segments) + suffix
    canonical = normalize_url(url)
    assert canonical is not None
    assert url_id(url) == url_id(canonical)
