"""A declarative source: CSS selectors an operator writes down instead of code.

A :class:`SelectorsConfig` is data only: selectors are matched, never executed, and the
config is checked as a whole before it is used (:func:`load_config`). Example::

    {"name": "tales", "hosts": ["tales.example"],
     "title": "h1.novel", "authors": ".meta a.author", "synopsis": "#about",
     "chapter_links": "ol.toc a", "next_page": "a[rel=next]",
     "chapter_title": "h1", "chapter_body": "article .text", "remove": [".note"]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from engine.novels.clean import clean_html
from engine.novels.errors import InvalidSourceConfig, NovelError, ParseError
from engine.novels.hosts import host_key
from engine.novels.model import ChapterContent, NovelInfo
from engine.novels.normalize import ChapterLink, NovelParts, assemble_novel
from engine.novels.sources.base import (
    Answers,
    Request,
    absolute,
    image_source,
    parse_html,
    same_origin,
    text,
    texts,
)

Selector = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Host = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
MAX_TOC_PAGES = 100  # each round re-reads the pages so far: keep the square small
_NAMED_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]+)`")
_NOVEL_FIELDS = ("title", "authors", "cover", "synopsis", "tags", "chapter_links", "next_page")
_SELECTOR_FIELDS = (*_NOVEL_FIELDS, "chapter_title", "chapter_body")


class SelectorsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a site keeps each part of a novel, as CSS selectors.

    ``cover`` selects the cover image, read from the first of ``cover_attrs`` that holds
    a URL. ``chapter_links`` selects the table of contents' ``a[href]``\\s, listed in
    ``chapter_order`` (``desc``: newest first). ``next_page`` selects the link to the next
    page of the table of contents on the same site, followed up to ``max_pages`` pages in
    all. The chapter's text is ``chapter_body`` without what ``remove`` selects.
    """

    name: Name
    hosts: tuple[Host, ...] = ()
    title: Selector
    authors: Selector | None = None
    cover: Selector | None = None
    cover_attrs: tuple[Selector, ...] = ("data-src", "src")
    synopsis: Selector | None = None
    tags: Selector | None = None
    chapter_links: Selector
    chapter_order: Literal["asc", "desc"] = "asc"
    next_page: Selector | None = None
    max_pages: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOC_PAGES)] = 50
    chapter_title: Selector | None = None
    chapter_body: Selector
    remove: tuple[Selector, ...] = ()


def load_config(document: bytes | str | Mapping[str, Any]) -> SelectorsConfig:
    """A checked :class:`SelectorsConfig` from JSON or an already decoded mapping.

    Raises InvalidSourceConfig naming the field: a missing, unknown or mistyped field, a
    selector that does not parse, a host that is not one.
    """
    try:
        if isinstance(document, Mapping):
            config = msgspec.convert(document, SelectorsConfig)
        else:
            config = msgspec.json.decode(document, type=SelectorsConfig)
    except msgspec.ValidationError as e:
        raise InvalidSourceConfig(str(e), field=_field_of(str(e))) from e
    except msgspec.DecodeError as e:
        raise InvalidSourceConfig(f"not valid JSON: {e}", field=None) from e
    check_config(config)
    return config


def check_config(config: SelectorsConfig) -> None:
    """Raise InvalidSourceConfig for a selector that does not parse or an invalid host."""
    probe = LexborHTMLParser("<p></p>")
    named = [(f, getattr(config, f)) for f in _SELECTOR_FIELDS]
    named += [(f"remove[{i}]", s) for i, s in enumerate(config.remove)]
    for field, selector in named:
        try:
            if selector is not None:
                probe.css(selector)
        except SelectolaxError as e:
            raise InvalidSourceConfig(f"not a valid CSS selector: {selector!r}", field=field) from e
    for i, host in enumerate(config.hosts):
        try:
            host_key(host)
        except NovelError as e:
            raise InvalidSourceConfig(str(e), field=f"hosts[{i}]") from e


def _field_of(message: str) -> str | None:
    """The field a msgspec error is about: ``title`` from "... - at `$.title`" or from
    "Object missing required field `title`"; None for the document as a whole."""
    head, sep, path = message.partition(" - at `$")
    path = path.rstrip("`").lstrip(".") if sep else ""
    named = _NAMED_FIELD.search(head)
    if named is None:
        return path or None
    return f"{path}.{named.group(1)}" if path else named.group(1)


class SelectorsSource:
    """A source reading a site as its :class:`SelectorsConfig` says."""

    def __init__(self, config: SelectorsConfig) -> None:
        check_config(config)
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def hosts(self) -> tuple[str, ...]:
        return self.config.hosts

    def novel_requests(self, url: str, html: str, answers: Answers) -> list[Request]:
        pages = self._toc_pages(url, html, answers)
        last_url, last_html = pages[-1]
        nxt = self._next_page(last_url, last_html, {u for u, _ in pages})
        requested = [Request(url=u) for u, _ in pages[1:]]
        if nxt is None or len(pages) >= self.config.max_pages:
            return requested
        return [*requested, Request(url=nxt)]

    def parse_novel(self, url: str, html: str, answers: Answers) -> NovelInfo:
        c = self.config
        tree = parse_html(html)
        title = text(tree.css_first(c.title))
        if not title:
            raise ParseError(f"nothing at {c.title!r} (title) in {url}")
        links = [link for u, h in self._toc_pages(url, html, answers) for link in self._toc(u, h)]
        synopsis = tree.css_first(c.synopsis) if c.synopsis else None
        cover = tree.css_first(c.cover) if c.cover else None
        return assemble_novel(
            NovelParts(
                url=url,
                title=title,
                authors=texts(tree, c.authors) if c.authors else (),
                cover_url=image_source(cover, url, c.cover_attrs),
                synopsis="" if synopsis is None else clean_html(synopsis, url).html,
                tags=texts(tree, c.tags) if c.tags else (),
                chapters=links[::-1] if c.chapter_order == "desc" else links,
            )
        )

    def parse_chapter(self, url: str, html: str) -> ChapterContent:
        c = self.config
        tree = parse_html(html)
        body = tree.css_first(c.chapter_body)
        if body is None:
            raise ParseError(f"nothing at {c.chapter_body!r} (chapter_body) in {url}")
        title = text(tree.css_first(c.chapter_title)) if c.chapter_title else ""
        cleaned = clean_html(body, url, remove=c.remove)
        return ChapterContent(title=title, html=cleaned.html, image_urls=cleaned.image_urls)

    def _toc_pages(self, url: str, html: str, answers: Answers) -> list[tuple[str, str]]:
        """The table of contents' pages fetched so far, in order, by following next links
        through ``answers``; stops at a page not (successfully) fetched or seen before."""
        pages = [(url, html)]
        while len(pages) < self.config.max_pages:
            nxt = self._next_page(*pages[-1], {u for u, _ in pages})
            answer = None if nxt is None else answers.get(Request(url=nxt))
            if nxt is None or answer is None:
                break
            pages.append((nxt, answer))
        return pages

    def _next_page(self, url: str, html: str, seen: set[str]) -> str | None:
        if self.config.next_page is None:
            return None
        node = parse_html(html).css_first(self.config.next_page)
        nxt = absolute(node.attributes.get("href"), url) if node is not None else None
        if nxt is None or nxt in seen or not same_origin(nxt, url):
            return None
        return nxt

    def _toc(self, url: str, html: str) -> list[ChapterLink]:
        links = []
        for node in parse_html(html).css(self.config.chapter_links):
            chapter_url = absolute(node.attributes.get("href"), url)
            if chapter_url is not None:
                links.append(ChapterLink(url=chapter_url, title=text(node)))
        return links
