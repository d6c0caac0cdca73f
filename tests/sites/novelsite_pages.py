"""The pages of the local novel sites: a seeded novel model and its rendering in the
NovelFull and the Madara layouts, as pure functions (tests read them directly, the site in
tests/sites/novelsite.py serves them).

Every piece of junk the cleaner must drop (scripts, ads, frames, comments, forms,
navigation) carries the word ADVERT, which no real text holds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from html import escape

JUNK = "ADVERT"
_NOUNS = ("river", "lantern", "mountain", "archive", "whisper", "garden", "falcon", "harbor")
_MORE = ("scroll", "meadow", "thunder", "orchard", "beacon", "cinder", "hollow", "tide")
_ADJECTIVES = ("amber", "quiet", "iron", "silver", "crimson", "golden", "hidden", "restless")
WORDS = _NOUNS + _MORE + _ADJECTIVES
PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACw="  # a lazy loader's placeholder
SPECIAL_TITLES = {3: "The iPhone & the <Sword>", 4: "Café at Dawn"}  # entities, no title-case


@dataclass(frozen=True)
class Chapter:
    """A chapter as a reader sees it; ``images`` are site paths; ``volume`` indexes
    :attr:`Novel.volumes` (0 when the novel has none)."""

    serial: int
    title: str
    paragraphs: tuple[str, ...]
    images: tuple[str, ...]
    volume: int


@dataclass(frozen=True)
class Novel:
    slug: str
    site_id: int
    title: str
    authors: tuple[str, ...]
    genres: tuple[str, ...]
    synopsis: tuple[str, ...]
    chapters: tuple[Chapter, ...]
    volumes: tuple[str, ...] = ()  # titles; empty: the site shows no volumes


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_novel(seed: int, *, slug: str, chapters: int, volumes: int = 0) -> Novel:
    """A novel generated from ``seed``: deterministic, no external data. Chapters whose
    serial ends in 7 have two images; volumes, if any, split the chapters evenly."""
    rng = random.Random(seed)
    made = []
    for n in range(1, chapters + 1):
        name = SPECIAL_TITLES.get(n) or _phrase(rng, 3).title()
        paragraphs = [_phrase(rng, rng.randint(12, 40)).capitalize() + "." for _ in range(3)]
        paragraphs[1] += " Tom & Jerry <3."  # text that must come back unescaped
        images = (f"/images/{slug}/{n}-1.png", f"/images/{slug}/{n}-2.png") if n % 10 == 7 else ()
        volume = (n - 1) * volumes // chapters if volumes else 0
        made.append(Chapter(n, f"Chapter {n}: {name}", tuple(paragraphs), images, volume))
    return Novel(
        slug=slug,
        site_id=1000 + seed,
        title=_phrase(rng, 3).title() + " of the iPhone Age",
        authors=(_phrase(rng, 2).title(), _phrase(rng, 2).title()),
        genres=("Fantasy", "Action", "Slice of Life"),
        synopsis=(_phrase(rng, 20).capitalize() + ".", _phrase(rng, 15).capitalize() + "."),
        chapters=tuple(made),
        volumes=tuple(f"Volume {k + 1}: {_phrase(rng, 2).title()}" for k in range(volumes)),
    )


def _e(text: str) -> str:
    return escape(text, quote=True)


def _paragraphs(texts: tuple[str, ...]) -> str:
    # The first word of each paragraph is emphasised: the text a reader sees is unchanged.
    out = []
    for text in texts:
        head, _, tail = _e(text).partition(" ")
        out.append(f"<p><em>{head}</em> {tail}</p>")
    return "\n".join(out)


def _junk(origin: str) -> str:
    return (
        f"<script>window.adsbygoogle = '{JUNK}';</script><style>.{JUNK} {{}}</style>"
        f'<p class="ads">{JUNK} paragraph</p><ins class="adsbygoogle">{JUNK}</ins>'
        f"<!-- {JUNK} comment --><iframe src='http://ads.invalid/{JUNK}'></iframe>"
        f'<div id="ads-slot-1">{JUNK} box</div><noscript>{JUNK}</noscript>'
        f'<form action="/search"><input name="q" value="{JUNK}"></form>'
        f'<div class="chapter-nav"><a href="{origin}/next">{JUNK} next</a></div>'
    )


def _images(chapter: Chapter, origin: str) -> str:
    if not chapter.images:
        return ""
    first, second = chapter.images  # one root-relative, one lazy-loaded and absolute
    return (
        f'<p><img src="{first}" alt="figure one"></p>'
        f'<p><img class="lazy" src="{PIXEL}" data-src="{origin}{second}" alt="figure two"></p>'
    )


def chapter_body(chapter: Chapter, origin: str) -> str:
    """Paragraphs with junk between them, and the images after the second one."""
    first, second, third = chapter.paragraphs
    return "\n".join(
        [
            _paragraphs((first,)),
            _junk(origin),
            _paragraphs((second,)),
            _images(chapter, origin),
            _paragraphs((third,)),
        ]
    )


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><title>{_e(title)}</title>"
        f"<script src='/js/app.js'></script></head><body>"
        f"<header><nav><a href='/'>Home</a> {JUNK} menu</nav></header>{body}"
        f"<footer>{JUNK} footer</footer></body></html>"
    )


class NovelFullLayout:
    """ReadNovelFull's layout: novel ``/<slug>.html``, chapters ``/<slug>/chapter-<n>.html``,
    the list from ``GET /ajax/chapter-archive?novelId=<id>``, oldest first, two columns."""

    name = "novelfull"

    def novel_path(self, novel: Novel) -> str:
        return f"/{novel.slug}.html"

    def chapter_path(self, novel: Novel, serial: int) -> str:
        return f"/{novel.slug}/chapter-{serial}.html"

    def novel_page(self, novel: Novel, origin: str) -> str:
        authors = ", ".join(f'<a href="/a/{_e(a)}">{_e(a)}</a>' for a in novel.authors)
        genres = ", ".join(f'<a href="/genres/{_e(g)}">{_e(g)}</a>' for g in novel.genres)
        body = (
            f'<div class="col-info-desc"><div class="book"><img class="lazy" src="{PIXEL}" '
            f'data-src="/covers/{novel.slug}.png" alt="{_e(novel.title)}"></div>'
            f'<div class="desc"><h3 class="title">\n  {_e(novel.title)}\n</h3>'
            f'<div id="rating" data-novel-id="{novel.site_id}"></div>'
            f'<ul class="info info-meta"><li><h3>Author:</h3>{authors}</li>'
            f"<li><h3>Genre:</h3>{genres}</li><li><h3>Status:</h3><a href='/s'>Ongoing</a></li>"
            f'</ul></div><div class="desc-text">{_paragraphs(novel.synopsis)}'
            f"<script>{JUNK}()</script></div></div>"
            f'<div id="list-chapter" class="tab-pane"></div>'
            f"<script>var novelId = {novel.site_id};</script>"
        )
        return _page(f"{novel.title} - Read Novel Full", body)

    def chapter_list(self, novel: Novel, origin: str) -> str:
        half = (len(novel.chapters) + 1) // 2
        columns = [novel.chapters[:half], novel.chapters[half:]]
        return "".join(
            '<div class="col-xs-12 col-sm-6"><ul class="list-chapter">'
            + "".join(
                f'<li><span class="glyphicon"></span><a href="{self.chapter_path(novel, c.serial)}"'
                f' title="{_e(c.title)}"><span class="chapter-text">{_e(c.title)}</span></a></li>'
                for c in column
            )
            + "</ul></div>"
            for column in columns
        )

    def chapter_page(self, novel: Novel, serial: int, origin: str) -> str:
        chapter = novel.chapters[serial - 1]
        body = (
            f'<a class="novel-title" href="{self.novel_path(novel)}">{_e(novel.title)}</a>'
            f'<h2><a class="chr-title" href="#" title="{_e(chapter.title)}">'
            f'<span class="chr-text">{_e(chapter.title)}</span></a></h2>'
            f'<div id="chr-content" class="chr-c">{chapter_body(chapter, origin)}'
            f'<div class="ads ads-holder">{JUNK} inner div</div></div>'
        )
        return _page(f"{chapter.title} - {novel.title}", body)


class MadaraLayout:
    """WordPress Madara: novel ``/novel/<slug>/``, chapters ``/novel/<slug>/chapter-<n>/``,
    the list from ``POST <novel>/ajax/chapters/`` or ``POST /wp-admin/admin-ajax.php``,
    newest first, grouped in volumes when the novel has them."""

    name = "madara"

    def novel_path(self, novel: Novel) -> str:
        return f"/novel/{novel.slug}/"

    def chapter_path(self, novel: Novel, serial: int) -> str:
        return f"/novel/{novel.slug}/chapter-{serial}/"

    def novel_page(self, novel: Novel, origin: str, *, inline_list: bool = False) -> str:
        authors = "".join(f'<a href="/manga-author/{_e(a)}/">{_e(a)}</a>' for a in novel.authors)
        genres = "".join(f'<a href="/genre/{_e(g)}/" rel="tag">{_e(g)}</a>' for g in novel.genres)
        body = (
            f'<div class="post-title"><h1><span class="manga-title-badges hot">HOT</span> '
            f'{_e(novel.title)}</h1></div><div class="summary_image"><a href="#">'
            f'<img class="img-responsive" data-src="{origin}/covers/{novel.slug}.png" '
            f'src="{PIXEL}"></a></div><div class="author-content">{authors}</div>'
            f'<div class="genres-content">{genres}</div><div class="description-summary">'
            f'<div class="summary__content">{_paragraphs(novel.synopsis)}</div>'
            f'<div class="c-content-readmore"><span class="btn">Show more</span></div></div>'
            f'<div id="manga-chapters-holder" data-id="{novel.site_id}">'
            f"{self.chapter_list(novel, origin) if inline_list else ''}</div>"
        )
        return _page(novel.title, body)

    def _items(self, novel: Novel, chapters: list[Chapter], origin: str) -> str:
        return "".join(
            f'<li class="wp-manga-chapter"><a href="{origin}{self.chapter_path(novel, c.serial)}">'
            f'\n {_e(c.title)} </a><span class="chapter-release-date"><i>May 1, 2024</i>'
            f"</span></li>"
            for c in reversed(chapters)  # newest first, as the theme lists them
        )

    def chapter_list(self, novel: Novel, origin: str) -> str:
        if not novel.volumes:
            items = self._items(novel, list(novel.chapters), origin)
            return f'<div class="listing-chapters_wrap"><ul class="main">{items}</ul></div>'
        groups = []
        for index in reversed(range(len(novel.volumes))):
            chapters = [c for c in novel.chapters if c.volume == index]
            groups.append(
                f'<li class="parent has-child"><a href="javascript:void(0)" class="has-child">'
                f"{_e(novel.volumes[index])}</a><ul class='sub-chap list-chap'>"
                f"{self._items(novel, chapters, origin)}</ul></li>"
            )
        return f'<ul class="main version-chap volumns">{"".join(groups)}</ul>'

    def chapter_page(self, novel: Novel, serial: int, origin: str) -> str:
        chapter = novel.chapters[serial - 1]
        body = (
            f'<ol class="breadcrumb"><li><a href="/">Home</a></li><li>{_e(novel.title)}</li>'
            f'<li class="active">{_e(chapter.title)}</li></ol>'
            f'<h1 id="chapter-heading">{_e(chapter.title)}</h1>'
            f'<div class="reading-content"><input type="hidden" value="{JUNK}">'
            f'<div class="text-left"><h3>{JUNK} heading</h3>{chapter_body(chapter, origin)}'
            f"</div></div><div class='nav-links'><a class='btn next_page'>{JUNK}</a></div>"
        )
        return _page(chapter.title, body)


Layout = NovelFullLayout | MadaraLayout
LAYOUTS: dict[str, Layout] = {"novelfull": NovelFullLayout(), "madara": MadaraLayout()}
