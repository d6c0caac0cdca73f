"""Stable ids: one per novel or chapter page, whatever the spelling of its URL."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.urls import normalize_url
from engine.novels.errors import InvalidNovelUrl
from engine.novels.hosts import host_key
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


_ORIGINS = st.sampled_from(
    ["http://Site.test", "https://www.site.test:443", "http://site.test:8080", "http://[::1]:81",
     "http://bücher.test", "HTTP://127.0.0.1"]
)  # fmt: skip


@given(_ORIGINS, _PATHS, st.sampled_from(["", "/", "?q=1", "/?q=1#f", "#f"]))
def test_the_id_hashes_the_whole_urls_host_key_and_path(
    origin: str, segments: list[str], suffix: str
) -> None:
    # the origin's key is kept across chapters; the id is as if made from the whole URL
    url = origin + "/" * bool(segments) + "/".join(segments) + suffix
    canonical = normalize_url(url)
    assert canonical is not None
    rest = canonical.split("://", 1)[1]
    key = host_key(canonical) + rest[len(rest.split("/", 1)[0]) :]
    assert url_id(url) == hashlib.sha256(key.encode()).hexdigest()[:16]
