"""The epub builder: EPUB 3 (with an EPUB 2 NCX for older readers) through ebooklib.

Layout of the package folder: ``intro.xhtml`` (title, authors, synopsis, tags, source), then
``v001.xhtml`` per volume and ``v001c00001.xhtml`` per chapter, all beside ``images/`` so
the chapters' ``images/<id>.<ext>`` resolve as written; ``cover.<ext>`` with a cover page;
``nav.xhtml`` and ``toc.ncx`` list the volumes with their chapters nested; ``style.css``.
"""

from __future__ import annotations

import datetime
from html import escape
from pathlib import Path

from ebooklib import epub

from engine.artifacts.book import (
    Book,
    BookChapter,
    BookVolume,
    book_identifier,
    image_extension,
    image_href,
)
from engine.artifacts.markup import clean_html, xml_safe

_CSS = """\
body { margin: 0 0.5em; line-height: 1.4; }
h1, h2 { text-align: center; }
img { max-width: 100%; }
p.meta { text-align: center; font-style: italic; }
"""


def write_epub(book: Book, path: Path) -> Path:
    """Write `book` (one that passed :func:`engine.artifacts.book.check_book`) as an EPUB 3
    to `path`. Raises OSError if the file cannot be written."""
    doc = _metadata(book)
    css = epub.EpubItem(uid="style", file_name="style.css", media_type="text/css", content=_CSS)
    doc.add_item(css)
    _add_images(doc, book)
    intro = _page(doc, css, "intro", book.title, _intro_html(book), book.language)
    toc: list[object] = []
    spine: list[object] = ["cover"] if book.cover is not None else []
    spine += ["nav", intro]
    for number, volume in enumerate(book.volumes, 1):
        pages = _volume_pages(doc, css, book, volume, number)
        toc.append((pages[0], pages[1:]) if len(pages) > 1 else pages[0])
        spine += pages
    doc.toc = toc
    doc.add_item(epub.EpubNcx())
    doc.add_item(epub.EpubNav())
    doc.spine = spine
    _write(doc, path)
    return path


def _metadata(book: Book) -> epub.EpubBook:
    doc = epub.EpubBook()
    doc.set_identifier(book_identifier(book))
    doc.set_title(xml_safe(book.title))
    doc.set_language(book.language)
    for number, author in enumerate(_nonblank(book.authors), 1):
        doc.add_author(author, uid=f"creator{number}")
    if book.synopsis.strip():
        doc.add_metadata("DC", "description", xml_safe(book.synopsis.strip()))
    for tag in _nonblank(book.tags):
        doc.add_metadata("DC", "subject", tag)
    if book.source_url:
        doc.add_metadata("DC", "source", xml_safe(book.source_url))
    return doc


def _nonblank(values: list[str]) -> list[str]:
    # An empty dc:creator or dc:subject is invalid.
    return [value for value in (" ".join(xml_safe(v).split()) for v in values) if value]


def _add_images(doc: epub.EpubBook, book: Book) -> None:
    if book.cover is not None:
        doc.set_cover(f"cover.{image_extension(book.cover)}", book.cover.data)
    for number, (image_id, image) in enumerate(book.images.items(), 1):
        item = epub.EpubImage(
            uid=f"image{number}",
            file_name=image_href(image_id, image),
            media_type=image.media_type,
            content=image.data,
        )
        doc.add_item(item)


def _volume_pages(
    doc: epub.EpubBook, css: epub.EpubItem, book: Book, volume: BookVolume, number: int
) -> list[epub.EpubHtml]:
    """The volume's title page, then one page per chapter."""
    stem = f"v{number:03d}"
    title = _title(volume.title, f"Volume {number}")
    pages = [_page(doc, css, stem, title, f"<h1>{escape(title)}</h1>", book.language)]
    hrefs = {image_href(key, image) for key, image in book.images.items()}
    for index, chapter in enumerate(volume.chapters, 1):
        html = _chapter_html(chapter, index, hrefs)
        chapter_title = _title(chapter.title, f"Chapter {index}")
        pages.append(_page(doc, css, f"{stem}c{index:05d}", chapter_title, html, book.language))
    return pages


def _chapter_html(chapter: BookChapter, index: int, hrefs: set[str]) -> str:
    title = _title(chapter.title, f"Chapter {index}")
    return f"<h2>{escape(title)}</h2>{clean_html(chapter.html, hrefs)}"


def _intro_html(book: Book) -> str:
    parts = [f"<h1>{escape(xml_safe(book.title))}</h1>"]
    if book.authors:
        parts.append(f'<p class="meta">{escape(xml_safe(", ".join(book.authors)))}</p>')
    for paragraph in book.synopsis.split("\n\n"):
        if paragraph.strip():
            parts.append(f"<p>{escape(xml_safe(paragraph.strip()))}</p>")
    if book.tags:
        parts.append(f'<p class="meta">{escape(xml_safe(", ".join(book.tags)))}</p>')
    if book.source_url:
        parts.append(f'<p class="meta">{clean_html(_source_link(book.source_url), ())}</p>')
    return "".join(parts)


def _source_link(url: str) -> str:
    # clean_html keeps the href only when it is a well-formed web URL; the text always stays.
    return f'<a href="{escape(url)}">{escape(url)}</a>'


def _page(
    doc: epub.EpubBook, css: epub.EpubItem, uid: str, title: str, html: str, language: str
) -> epub.EpubHtml:
    page = epub.EpubHtml(uid=uid, file_name=f"{uid}.xhtml", title=xml_safe(title), lang=language)
    page.content = html
    page.add_item(css)
    doc.add_item(page)
    return page


def _title(title: str, fallback: str) -> str:
    # An empty title would leave an empty entry in the table of contents, which EPUB forbids.
    return " ".join(xml_safe(title).split()) or fallback


def _write(doc: epub.EpubBook, path: Path) -> None:
    # EpubWriter directly: write_epub() turns an OSError into a warning and a False result.
    # dcterms:modified must be UTC; ebooklib's default is the local time marked "Z".
    options = {"epub3_pages": False, "mtime": datetime.datetime.now(datetime.UTC)}
    writer = epub.EpubWriter(str(path), doc, options)
    writer.process()
    writer.write()
