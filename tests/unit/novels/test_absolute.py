"""A link made absolute: the short way for plain paths gives what urljoin gives."""

from __future__ import annotations

from urllib.parse import urljoin

from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.urls import normalize_url
from engine.novels.sources.base import absolute


def _joined(href: str, base: str) -> str | None:
    """What `absolute` answered before it had a short way: urljoin, then the check."""
    if not href.strip():
        return None
    joined = urljoin(base, href.strip()).partition("#")[0]
    return joined if normalize_url(joined) is not None else None


_BASES = st.sampled_from([
    "http://127.0.0.1:8080/novel/x.html", "https://Example.COM/a/b/?page=2#toc",
    "http://user:pw@www.site.org:443/", "HTTP://site.org", "ftp://site.org/x", "/relative/base",
    "http://bad host/x", "https://[::1]:9/x/y", "http://münchen.de/roman/",
])  # fmt: skip
_PATHS = st.text(alphabet="/.?#%:;=&+,!$()*@-_~ab1 é\t", max_size=24).map(lambda t: "/" + t)


@given(href=st.one_of(_PATHS, st.text(max_size=20)), base=_BASES)
def test_the_same_as_urljoin_and_the_check(href: str, base: str) -> None:
    assert absolute(href, base) == _joined(href, base)


def test_a_table_of_contents_link() -> None:
    base = "http://127.0.0.1:8080/ajax/chapter-archive?novelId=7"
    assert (
        absolute(" /novel/chapter-12.html ", base) == "http://127.0.0.1:8080/novel/chapter-12.html"
    )
    assert absolute("/novel/../chapter-1.html", base) == "http://127.0.0.1:8080/chapter-1.html"
    assert absolute("//other.org/x", base) == "http://other.org/x"
    assert absolute("/x", "mailto:someone") is None
