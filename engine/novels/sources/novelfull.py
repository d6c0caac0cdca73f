"""The NovelFull theme (ReadNovelFull and the sites built like it).

Layout: title ``h3.title``, cover ``.book img``, authors as links under ``.info`` to author
pages, genres and tags in the ``.info`` item whose heading says so, synopsis
``.desc-text``, the novel's id in ``#rating[data-novel-id]``. The chapter list comes from
``ajax/chapter-archive?novelId=<id>`` at the site's root, or from the URL a page script
assigns to ``ajaxChapterOptionUrl`` when it has one; its chapters are ``ul.list-chapter``
links (or ``select`` options), oldest first. A chapter's text is in ``#chr-content`` (or
``#chapter-content``) without the ``div``\\s inside it, where the ads sit.

This source claims no hosts: an operator binds the theme to theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urljoin

from selectolax.lexbor import LexborHTMLParser

from engine.novels.clean import clean_html
from engine.novels.errors import ParseError
from engine.novels.model import ChapterContent, NovelInfo
from engine.novels.normalize import ChapterLink, NovelParts, assemble_novel
from engine.novels.sources.base import (
    Answers,
    Request,
    absolute,
    first,
    home_of,
    image_source,
    parse_html,
    same_origin,
    text,
    texts,
)

NAME = "novelfull"
ARCHIVE_PATH = "ajax/chapter-archive"
OPTION_PATH = "ajax-chapter-option"
_OPTION_URL = re.compile(r"""ajaxChapterOptionUrl\s*=\s*["']([^"']+)["']""")
_ID_SELECTORS = ("#rating[data-novel-id]", "[data-novel-id]")
_AUTHOR_LINKS = ".info a[href*='/a/'], .info a[href*='/au/'], .info a[href*='author']"
_COVER_ATTRS = ("data-src", "src")
_BODY = ("#chr-content", "#chapter-content")
_CHAPTER_TITLE = (".chr-title", ".chr-text", ".chapter-title", "h2", "h1", "title")
_PAGE_TOC = "ul.list-chapter > li > a[href]"  # a page listing its chapters itself
_TOC_ITEMS = f"{_PAGE_TOC}, select > option[value]"


class NovelFullSource:
    """Reads NovelFull-theme sites (see the module docstring)."""

    name = NAME

    def __init__(self, hosts: Iterable[str] = ()) -> None:
        self.hosts = tuple(hosts)

    def novel_requests(self, url: str, html: str, answers: Answers) -> list[Request]:
        tree = parse_html(html)
        if tree.css_first(_PAGE_TOC) is not None:
            return []  # the page lists its chapters itself
        return [_chapter_list_request(tree, url)]

    def parse_novel(self, url: str, html: str, answers: Answers) -> NovelInfo:
        tree = parse_html(html)
        title = text(tree.css_first("h3.title"))
        if not title:
            raise ParseError(f"no title at h3.title: {url} is not a NovelFull page")
        listing = _toc_source(tree, url, answers)
        return assemble_novel(
            NovelParts(
                url=url,
                title=title,
                authors=texts(tree, _AUTHOR_LINKS),
                cover_url=image_source(tree.css_first(".book img"), url, _COVER_ATTRS),
                synopsis=_synopsis(tree, url),
                tags=_genres(tree),
                chapters=_toc(listing, url),
            )
        )

    def parse_chapter(self, url: str, html: str) -> ChapterContent:
        tree = parse_html(html)
        body = first(tree, _BODY)
        if body is None:
            raise ParseError(f"no chapter text at {' or '.join(_BODY)} in {url}")
        heading = first(tree, _CHAPTER_TITLE)
        title = (heading.attributes.get("title") if heading is not None else None) or text(heading)
        cleaned = clean_html(body, url, remove=("div",))
        return ChapterContent(title=title, html=cleaned.html, image_urls=cleaned.image_urls)


def _novel_id(tree: LexborHTMLParser, url: str) -> str:
    node = first(tree, _ID_SELECTORS)
    value = (node.attributes.get("data-novel-id") or "").strip() if node is not None else ""
    if not value:
        raise ParseError(f"no novel id at #rating[data-novel-id] in {url}")
    return value


def _chapter_list_request(tree: LexborHTMLParser, url: str) -> Request:
    """The chapter list's GET: the archive, or the option list a page script names (on the
    novel's site; elsewhere, the theme's usual path)."""
    novel_id = quote(_novel_id(tree, url), safe="")
    home = home_of(url)
    scripts = " ".join(node.text() for node in tree.css("script"))
    if "ajaxChapterOptionUrl" not in scripts:
        return Request(url=f"{home}{ARCHIVE_PATH}?novelId={novel_id}")
    match = _OPTION_URL.search(scripts)
    named = urljoin(home, match.group(1)).partition("?")[0] if match else ""
    endpoint = named if named and same_origin(named, home) else home + OPTION_PATH
    return Request(url=f"{endpoint}?novelId={novel_id}")


def _toc_source(tree: LexborHTMLParser, url: str, answers: Answers) -> LexborHTMLParser:
    """The document holding the chapter list. Its links resolve against the novel page,
    where the theme's script puts the list."""
    if tree.css_first(_PAGE_TOC) is not None:
        return tree
    request = _chapter_list_request(tree, url)
    listing = answers.get(request)
    if listing is None:
        raise ParseError(f"the chapter list of {url} ({request.url}) could not be fetched")
    return parse_html(listing)


def _toc(listing: LexborHTMLParser, base: str) -> list[ChapterLink]:
    links = []
    for node in listing.css(_TOC_ITEMS):
        href = node.attributes.get("href") if node.tag == "a" else node.attributes.get("value")
        chapter_url = absolute(href, base)
        if chapter_url is not None:
            title = node.attributes.get("title") or text(node)
            links.append(ChapterLink(url=chapter_url, title=title))
    return links


def _synopsis(tree: LexborHTMLParser, url: str) -> str:
    node = tree.css_first(".desc-text")
    return "" if node is None else clean_html(node, url).html


def _genres(tree: LexborHTMLParser) -> list[str]:
    """Links of the ``.info`` items whose heading names genres or tags."""
    names: list[str] = []
    for item in tree.css(".info li"):
        heading = text(item.css_first("h3")).casefold()
        if "genre" in heading or "tag" in heading:
            names.extend(texts(item, "a"))
    return names
