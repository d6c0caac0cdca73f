"""What the API accepts as a URL, the crawler parses, and can build a request from.

The API decodes bodies strictly (api.bodies.strict_body) and checks their URLs with the
crawler's parser; these properties hold for any string, so no URL a client gets accepted can
make a job crash on it later.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from yarl import URL

from api.schemas import FetchNovelBody
from api.work_routes import CrawlBody, ScrapeBody, _crawl_params, _scrape_urls
from engine.crawl.frontier import Frontier
from engine.crawl.models import CrawlOptions
from engine.crawl.urls import parse_url
from engine.domain.errors import InvalidCommand

URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"  # the schema's shape of a URL (api.schemas.Url)


def _decoded(body: dict[str, Any], body_type: type[Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(body), type=body_type)


def scrape_accepts(url: str) -> bool:
    """Whether `POST /api/job/create/scrape` takes `{"urls": [url]}`."""
    try:
        _scrape_urls(_decoded({"urls": [url]}, ScrapeBody))
    except (msgspec.ValidationError, InvalidCommand):
        return False
    return True


def crawl_root(body: dict[str, Any]) -> str | None:
    """The start URL `POST /api/job/create/crawl` makes of `body`, or None if refused."""
    try:
        return str(_crawl_params(_decoded(body, CrawlBody))["url"])
    except (msgspec.ValidationError, InvalidCommand):
        return None


def novel_accepts(url: str) -> bool:
    try:
        _decoded({"url": url}, FetchNovelBody)
    except msgspec.ValidationError:
        return False
    return True


def assert_crawler_takes(url: str) -> None:
    """The crawler parses `url`, starts a crawl from it, and a request can be built for it
    (yarl, as the fetcher builds it) from the URL as given and from its canonical form."""
    canonical = parse_url(url)
    assert parse_url(canonical) == canonical
    frontier = Frontier(url)
    assert frontier.root_url == canonical
    assert frontier.add(canonical, 0) and frontier.next() is not None
    CrawlOptions(url=url).validate()
    for form in (url, canonical):
        built = URL(form, encoded=False)
        assert built.raw_host and built.port is not None and 0 < built.port <= 65535


_HOST_CHARS = [*"abcxyzABC019-_.%!~<>[]:@ \x00\x7f", "é", "例", "\u0300", "\u200b"]
_hosts = st.one_of(
    st.text(alphabet=st.sampled_from(_HOST_CHARS), max_size=12),
    st.from_regex(r"[a-z0-9_-]{0,70}(\.[a-z0-9_-]{0,70}){0,4}\.?", fullmatch=True),
    st.sampled_from(["[::1]", "[::1", "127.0.0.1", "[fe80::1%25eth0]", "例え.テスト"]),
)
_ports = st.one_of(
    st.just(""),
    st.integers(-5, 70_000).map(lambda p: f":{p}"),
    st.text(alphabet="0123456789-+x", max_size=6).map(lambda t: ":" + t),
)
_urls = st.builds(
    "{}://{}{}{}/{}".format,
    st.sampled_from(["http", "https", "HTTP", "ftp"]),
    st.sampled_from(["", "u:p@", "@", "u\x01@"]),
    _hosts,
    _ports,
    st.text(max_size=12),
)
_any_url = st.one_of(_urls, st.from_regex(URL_PATTERN, fullmatch=True))


@given(_any_url)
def test_any_url_the_api_accepts_the_crawler_takes(url: str) -> None:
    accepted = [scrape_accepts(url), novel_accepts(url), crawl_root({"url": url}) is not None]
    assert len(set(accepted)) == 1, (url, accepted)  # the three bodies agree
    event("accepted" if accepted[0] else "refused")
    if accepted[0]:
        assert_crawler_takes(url)


_domains = st.builds("{}{}".format, _hosts.map(lambda h: h.strip("[]")), _ports)


@given(_domains)
def test_any_domain_the_api_accepts_the_crawler_takes(domain: str) -> None:
    root = crawl_root({"domain": domain})
    event("accepted" if root is not None else "refused")
    if root is not None:
        assert root == f"https://{domain}/"
        assert_crawler_takes(root)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://例え.テスト/x?y=1#z",
        "http://[::1]:8000/a%20b",
        "https://u:p@under_score.example:65535/",
        "http://example.com/\x00",
    ],
)
def test_urls_the_api_accepts(url: str) -> None:
    """The properties above are not vacuous: such URLs are accepted, and taken."""
    assert scrape_accepts(url) and novel_accepts(url) and crawl_root({"url": url}) == url
    assert_crawler_takes(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:99999/",
        "http://example.com:-1/",
        "http://[::1/",
        "http://exa\x00mple.com/",
        "http://:80/",
        "http://" + "a" * 64 + ".com/",
    ],
)
def test_urls_the_api_refuses(url: str) -> None:
    assert not scrape_accepts(url) and not novel_accepts(url)
    assert crawl_root({"url": url}) is None


def test_bodies_are_decoded_strictly() -> None:
    """`strict_body` decodes in msgspec's strict mode; the lax mode Litestar uses for its
    own conversion would take a string for a number or a boolean."""
    body = {"domain": "example.com", "max_pages": "5", "respect_robots": "false"}
    lax = msgspec.convert(body, CrawlBody, strict=False)
    assert (lax.max_pages, lax.respect_robots) == (5, False)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.max_pages"):
        _decoded(body, CrawlBody)
