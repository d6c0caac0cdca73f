"""From the library to a `Book`: the table of contents folded from a NOVEL job's log, the
stored chapter bodies and images, put together for the e-book builders.

Pure: the ARTIFACT handler (:mod:`engine.novels.artifact_job`) reads the log and the library
and hands the results here.

- The table of contents is the job's latest `novel_parsed` for the novel and the
  `chapters_listed` parts that follow it; all of its `parts` must be there.
- A chapter with no stored body gets a short placeholder and is counted as missing.
- A stored chapter's images (``<img src>`` holding the absolute URL the cleaner wrote) are
  rewritten to the book's image names when the library holds the image as JPEG, PNG or GIF;
  other images are left to the builders, which drop an ``<img>`` the book does not have.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping

import msgspec

from engine.artifacts.book import IMAGE_TYPES, Book, BookChapter, BookVolume, Image, image_href
from engine.artifacts.markup import html_text
from engine.domain.events import AnyEvent, ChapterInfo, ChaptersListed, NovelParsed
from engine.jetstream.library import Chapter
from engine.novels.errors import InvalidNovelUrl, NovelError
from engine.novels.model import url_id

# The cleaner writes images as `<img src="..." alt="..."/>` with a double-quoted src.
_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]*)(")', re.IGNORECASE)


class ContentsError(NovelError):
    """A job's log does not hold a complete table of contents for the novel."""


class Contents(msgspec.Struct, frozen=True, kw_only=True):
    """A novel's metadata and its chapters in reading order."""

    novel: NovelParsed
    chapters: list[ChapterInfo]


class Bound(msgspec.Struct, frozen=True, kw_only=True):
    """A book ready to build, and how many of its chapters had no stored body."""

    book: Book
    chapters_missing: int


def table_of_contents(events: Iterable[AnyEvent], novel_id: str, job_id: str) -> Contents:
    """The novel's contents as job `job_id`'s `events` last stated them.

    Raises ContentsError when the events hold no `novel_parsed` for `novel_id`, or fewer
    `chapters_listed` parts than it announced.
    """
    novel: NovelParsed | None = None
    parts: dict[int, list[ChapterInfo]] = {}
    for event in events:
        if isinstance(event, NovelParsed) and event.novel_id == novel_id:
            novel, parts = event, {}  # a later attempt's parse replaces the earlier one
        elif isinstance(event, ChaptersListed) and event.novel_id == novel_id and novel:
            parts[event.part] = event.chapters
    if novel is None:
        raise ContentsError(f"job {job_id} holds no table of contents of novel {novel_id}")
    missing = [p for p in range(novel.parts) if p not in parts]
    if missing:
        raise ContentsError(
            f"job {job_id}'s table of contents of novel {novel_id} lacks part(s) "
            f"{', '.join(map(str, missing))} of {novel.parts}"
        )
    chapters = [c for p in range(novel.parts) for c in parts[p]]
    return Contents(novel=novel, chapters=sorted(chapters, key=lambda c: c.serial))


def sniff_image(data: bytes) -> Image | None:
    """`data` as a book image when its leading bytes are JPEG, PNG or GIF; else None (a
    stored content type may be wrong, the bytes are not)."""
    for media_type, (_, magics) in IMAGE_TYPES.items():
        if data.startswith(magics):
            return Image(media_type=media_type, data=data)
    return None


def image_ids(bodies: Iterable[Chapter]) -> list[str]:
    """The ids of the images the chapter bodies show, each once, in order."""
    found: dict[str, None] = {}
    for body in bodies:
        for match in _IMG_SRC.finditer(body.html):
            image_id = _image_id(match.group(2))
            if image_id is not None:
                found[image_id] = None
    return list(found)


def _image_id(src: str) -> str | None:
    try:
        return url_id(html.unescape(src))
    except InvalidNovelUrl:
        return None


def bind(
    contents: Contents,
    bodies: Mapping[str, Chapter],
    images: Mapping[str, Image],
    cover: Image | None = None,
) -> Bound:
    """The book of `contents`: `bodies` by chapter id, `images` by image id (already
    JPEG, PNG or GIF), the cover if any. Volumes keep their serial order and hold their
    chapters in serial order; a volume without chapters is left out, and chapters of
    volumes the contents do not list go in untitled volumes at the end."""
    novel = contents.novel
    titles = {v.id: v.title for v in sorted(novel.volumes, key=lambda v: v.serial)}
    grouped: dict[str, list[BookChapter]] = {volume_id: [] for volume_id in titles}
    missing = 0
    for info in contents.chapters:
        body = bodies.get(info.id)
        missing += 1 if body is None else 0
        grouped.setdefault(info.volume_id, []).append(_chapter(info, body, images))
    volumes = [
        BookVolume(title=titles.get(volume_id, ""), chapters=chapters)
        for volume_id, chapters in grouped.items()
        if chapters
    ]
    used = {image_id for v in volumes for c in v.chapters for image_id in c.images}
    book = Book(
        title=novel.title, authors=[a for a in novel.authors if a.strip()],
        synopsis=html_text(novel.synopsis) if novel.synopsis else "",
        tags=[t for t in novel.tags if t.strip()], source_url=novel.url, cover=cover,
        volumes=volumes, images={i: images[i] for i in sorted(used)},
    )  # fmt: skip
    return Bound(book=book, chapters_missing=missing)


def _chapter(info: ChapterInfo, body: Chapter | None, images: Mapping[str, Image]) -> BookChapter:
    if body is None:
        return BookChapter(title=info.title, html=placeholder(info))
    shown: list[str] = []
    text = _IMG_SRC.sub(_rewrite(images, shown), body.html)
    return BookChapter(title=body.title.strip() or info.title, html=text, images=shown)


def _rewrite(images: Mapping[str, Image], shown: list[str]) -> Callable[[re.Match[str]], str]:
    """A substitution that points an `<img>` at the book's copy of its image, noting the id
    in `shown`; an image the book lacks keeps its src (the builders drop it)."""

    def sub(match: re.Match[str]) -> str:
        image_id = _image_id(match.group(2))
        if image_id is None or image_id not in images:
            return match.group(0)
        if image_id not in shown:
            shown.append(image_id)
        return match.group(1) + image_href(image_id, images[image_id]) + match.group(3)

    return sub


def placeholder(info: ChapterInfo) -> str:
    """The body of a chapter the library does not hold: says so and where it is online."""
    url = html.escape(info.url, quote=True)
    return (
        "<p>This chapter has not been downloaded yet.</p>"
        f'<p>It is online at <a href="{url}">{html.escape(info.url)}</a>.</p>'
    )
