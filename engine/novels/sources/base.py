"""The source interface: pure functions of fetched pages; the caller does the fetching.

Reading a novel takes rounds. The caller fetches the novel page, then asks the source which
further requests it needs (:meth:`Source.novel_requests`, e.g. an AJAX chapter list) given
the answers so far, fetches those, and asks again until nothing new is asked for; then
:meth:`Source.parse_novel` builds the :class:`NovelInfo` from the page and the answers.
A request the caller could not complete is answered with None, so a source can fall back
to another (Madara's ``admin-ajax.php``). :func:`gather` is that loop. The built-in
sources only ask for URLs on the novel page's own origin; the caller still fetches them
through its guarded fetcher, as any URL.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import urljoin, urlsplit

import msgspec
from selectolax.lexbor import LexborHTMLParser, LexborNode

from engine.crawl.urls import normalize_url
from engine.novels.errors import NovelError
from engine.novels.model import ChapterContent, NovelInfo
from engine.novels.normalize import clean_text

MAX_REQUESTS = 200  # extra requests one novel may ask for (paged tables of contents)


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """A request a source needs answered; hashable, so answers are keyed by it. ``form``
    is an ``application/x-www-form-urlencoded`` body of a POST, as ordered pairs."""

    url: str
    method: Literal["GET", "POST"] = "GET"
    form: tuple[tuple[str, str], ...] = ()


Answers = Mapping[Request, str | None]
"""Answers to a source's requests: the response text, or None when it could not be had."""


@runtime_checkable
class Source(Protocol):
    """A way of reading one family of sites. Every method is pure: same input, same output,
    no I/O. ``url`` arguments are the absolute URLs the pages were fetched from (after
    redirects), used to resolve relative links."""

    @property
    def name(self) -> str:
        """A stable name, e.g. ``"novelfull"``; what an explicit ``source`` override names."""
        ...

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts this source claims (see :func:`engine.novels.hosts.host_key`)."""
        ...

    def novel_requests(self, url: str, html: str, answers: Answers) -> list[Request]:
        """The requests still needed to parse the novel page ``html``, given ``answers``
        to the ones made so far. Asking only for already answered requests means done."""
        ...

    def parse_novel(self, url: str, html: str, answers: Answers) -> NovelInfo:
        """The novel at ``url``, chapters in reading order. Raises ParseError when the page
        is not in this source's layout or the table of contents could not be had."""
        ...

    def parse_chapter(self, url: str, html: str) -> ChapterContent:
        """A chapter page's title and cleaned body. Raises ParseError when there is no
        body where the layout puts it."""
        ...


Fetch = Callable[[Request], Awaitable[str | None]]


async def gather(
    source: Source, url: str, html: str, fetch: Fetch, *, max_requests: int = MAX_REQUESTS
) -> dict[Request, str | None]:
    """Ask ``source`` for requests and answer them with ``fetch`` until it asks for nothing
    new; ``fetch`` returns the response text, or None when the request failed. Raises
    NovelError when the source asks for more than ``max_requests``."""
    answers: dict[Request, str | None] = {}
    while wanted := [r for r in source.novel_requests(url, html, answers) if r not in answers]:
        if len(answers) + len(wanted) > max_requests:
            raise NovelError(f"source {source.name} asked for more than {max_requests} requests")
        for request in wanted:
            answers[request] = await fetch(request)
    return answers


def home_of(url: str) -> str:
    """``scheme://host[:port]/`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port: the extra requests a page can make a
    source ask for stay on the novel's own site."""
    return home_of(url).lower() == home_of(other).lower()


def absolute(href: str | None, base: str) -> str | None:
    """``href`` resolved against ``base`` without its fragment, if it is an http(s) URL.

    The path is kept as the site writes it (a trailing slash stays: some sites redirect
    without it); ids use the normalised form anyway (:func:`engine.novels.model.url_id`).
    """
    if not href or not href.strip():
        return None
    href = href.strip()
    if _PLAIN_PATH.fullmatch(href) is not None and "/." not in href and "//" not in href:
        origin = _origin(base)  # what urljoin would put before it, checked once per base
        if origin is not None:
            return origin + href
    joined = urljoin(base, href).partition("#")[0]
    return joined if normalize_url(joined) is not None else None


# A path from the root (and a query) of characters URLs carry as they are (not ";", which
# urljoin reads as parameters): joined to its base as urljoin joins it (the base's scheme
# and authority, then the path) without parsing either again. A table of contents is a
# thousand such links. A dot segment ("/./", "/../") or an empty one ("//"), which urljoin
# resolves or drops, an empty query, which it drops, or anything else takes the long way.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,=:@%/-]*(?:\?[A-Za-z0-9._~!$&'()*+,=:@%/?-]+)?")


@functools.lru_cache(maxsize=256)  # pure; a novel's links share one base
def _origin(base: str) -> str | None:
    """``scheme://authority`` of ``base`` as urljoin keeps it, when a path joined to it makes
    a URL :func:`normalize_url` takes; else None."""
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if parts.netloc and normalize_url(origin + "/") is not None else None


def parse_html(html: str) -> LexborHTMLParser:
    return LexborHTMLParser(html)


def first(tree: LexborHTMLParser | LexborNode, selectors: Iterable[str]) -> LexborNode | None:
    """The first node matched by the first of ``selectors`` that matches anything."""
    for selector in selectors:
        node = tree.css_first(selector)
        if node is not None:
            return node
    return None


def text(node: LexborNode | None) -> str:
    """A node's text, :func:`clean_text`-ed; empty for None."""
    return "" if node is None else clean_text(node.text(separator=" "))


def texts(tree: LexborHTMLParser | LexborNode, selector: str) -> list[str]:
    return [text(node) for node in tree.css(selector)]


def image_source(node: LexborNode | None, base: str, attrs: Iterable[str]) -> str | None:
    """The first of ``attrs`` of an image ``node`` that holds an http(s) URL (``data:``
    placeholders of lazy loaders skipped), made absolute."""
    if node is None:
        return None
    for attr in attrs:
        value = node.attributes.get(attr) or ""
        if value.strip() and not value.strip().lower().startswith("data:"):
            return absolute(value, base)
    return None
