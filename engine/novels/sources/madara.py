"""The Madara theme (WordPress with the wp-manga plugin).

Layout: title ``.post-title h1`` (without its badge ``span``\\s), cover
``.summary_image a img``, authors ``.author-content a[href*="manga-author"]``, genres
``.genres-content a[rel="tag"]``, synopsis ``.description-summary``. The chapter list is
on the page in older versions; otherwise it comes from a POST to ``<novel-url>/ajax/chapters/``,
or, when that gives nothing, a POST to ``<site>/wp-admin/admin-ajax.php`` with
``action=manga_get_chapters&manga=<#manga-chapters-holder[data-id]>``. Its chapters are
``ul.main li.wp-manga-chapter > a``, newest first; where the theme groups them into volumes
(``ul.main > li.parent``, titled by their first link) the volumes are newest first too.
A chapter's text is in ``div.reading-content``, without its ``h3``\\s.

This source claims no hosts: an operator binds the theme to theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from engine.novels.clean import clean_html
from engine.novels.errors import ParseError
from engine.novels.model import ChapterContent, NovelInfo
from engine.novels.normalize import ChapterLink, NovelParts, assemble_novel, clean_text
from engine.novels.sources.base import (
    Answers,
    Request,
    absolute,
    first,
    home_of,
    image_source,
    parse_html,
    text,
    texts,
)

NAME = "madara"
ADMIN_AJAX = "wp-admin/admin-ajax.php"
_ITEMS = "ul.main li.wp-manga-chapter > a[href]"
_VOLUMES = "ul.main > li.parent"
_LOOSE = "ul.main > li.wp-manga-chapter > a[href]"
_COVER_ATTRS = ("data-src", "data-lazy-src", "src")
_SYNOPSIS = (".description-summary .summary__content", ".description-summary")
_CHAPTER_TITLE = ("#chapter-heading", ".breadcrumb li.active", "h1")


class MadaraSource:
    """Reads Madara-theme sites (see the module docstring)."""

    name = NAME

    def __init__(self, hosts: Iterable[str] = ()) -> None:
        self.hosts = tuple(hosts)

    def novel_requests(self, url: str, html: str, answers: Answers) -> list[Request]:
        tree = parse_html(html)
        if tree.css_first(_ITEMS) is not None:
            return []  # an older version: the page lists its chapters itself
        primary = Request(url=chapters_url(url), method="POST")
        if primary not in answers or _lists_chapters(answers[primary]):
            return [primary]
        fallback = _fallback_request(tree, url)
        return [primary] if fallback is None else [primary, fallback]

    def parse_novel(self, url: str, html: str, answers: Answers) -> NovelInfo:
        tree = parse_html(html)
        heading = tree.css_first(".post-title h1")
        title = _title_without_badges(heading) if heading is not None else ""
        if not title:
            raise ParseError(f"no title at .post-title h1: {url} is not a Madara page")
        chapters, volumes = _toc(_toc_source(tree, url, answers), url)
        synopsis = first(tree, _SYNOPSIS)
        return assemble_novel(
            NovelParts(
                url=url,
                title=title,
                authors=texts(tree, ".author-content a[href*='manga-author']"),
                cover_url=image_source(tree.css_first(".summary_image a img"), url, _COVER_ATTRS),
                synopsis="" if synopsis is None else clean_html(synopsis, url).html,
                tags=texts(tree, ".genres-content a[rel='tag']"),
                chapters=chapters,
                volume_titles=volumes,
            )
        )

    def parse_chapter(self, url: str, html: str) -> ChapterContent:
        tree = parse_html(html)
        body = tree.css_first("div.reading-content")
        if body is None:
            raise ParseError(f"no chapter text at div.reading-content in {url}")
        cleaned = clean_html(body, url, remove=("h3",))
        title = text(first(tree, _CHAPTER_TITLE))
        return ChapterContent(title=title, html=cleaned.html, image_urls=cleaned.image_urls)


def chapters_url(novel_url: str) -> str:
    """``<novel-url>/ajax/chapters/``, the chapter list of newer Madara versions."""
    parts = urlsplit(novel_url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path + "ajax/chapters/", "", ""))


def _fallback_request(tree: LexborHTMLParser, url: str) -> Request | None:
    holder = tree.css_first("#manga-chapters-holder[data-id]")
    manga = (holder.attributes.get("data-id") or "").strip() if holder is not None else ""
    if not manga:
        return None
    form = (("action", "manga_get_chapters"), ("manga", manga))
    return Request(url=home_of(url) + ADMIN_AJAX, method="POST", form=form)


def _lists_chapters(answer: str | None) -> bool:
    return answer is not None and parse_html(answer).css_first(_ITEMS) is not None


def _toc_source(tree: LexborHTMLParser, url: str, answers: Answers) -> LexborHTMLParser:
    """The first of the page and the answers that lists chapters; else the first answer
    there is (a novel with no chapters yet); ParseError when there is none at all."""
    if tree.css_first(_ITEMS) is not None:
        return tree
    candidates = [chapters_url(url), home_of(url) + ADMIN_AJAX]
    got = [answers[r] for r in answers if r.method == "POST" and r.url in candidates]
    received = [answer for answer in got if answer is not None]
    if not received:
        raise ParseError(f"the chapter list of {url} could not be fetched")
    listing = next((answer for answer in received if _lists_chapters(answer)), received[0])
    return parse_html(listing)


def _toc(listing: LexborHTMLParser, base: str) -> tuple[list[ChapterLink], list[str] | None]:
    """Chapters in reading order and, if the list groups them, the volume titles. Links
    resolve against the novel page, where the theme's script puts the list."""
    groups = listing.css(_VOLUMES)
    if not groups:
        return _links(listing.css(_ITEMS), base, None), None
    groups.reverse()  # newest volume first on the page
    titles = [text(group.css_first("a")) for group in groups]
    chapters: list[ChapterLink] = []
    for index, group in enumerate(groups):
        chapters += _links(group.css("li.wp-manga-chapter > a[href]"), base, index)
    return chapters + _links(listing.css(_LOOSE), base, None), titles


def _links(nodes: list[LexborNode], base: str, volume: int | None) -> list[ChapterLink]:
    """The chapters of ``nodes`` (newest first, as the theme lists them) oldest first."""
    links = []
    for node in reversed(nodes):
        url = absolute(node.attributes.get("href"), base)
        if url is not None:
            links.append(ChapterLink(url=url, title=text(node), volume=volume))
    return links


def _title_without_badges(heading: LexborNode) -> str:
    parts = [
        child.text(separator=" ")
        for child in heading.iter(include_text=True)
        if child.tag != "span"
    ]
    return clean_text(" ".join(parts))
