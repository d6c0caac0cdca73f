"""The fourteen e-book formats (``engine.domain.model.ALL_FORMATS``): how each is made, and
`build`, the one entry point.

epub, json, txt and tcr are written here (tcr because Calibre 6.13's TCR writer crashes,
while its reader is fine); the other ten are converted from the epub by Calibre's
``ebook-convert`` and can be made only where it is installed (:func:`can_make`).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import msgspec

from engine.artifacts import calibre
from engine.artifacts.book import Book, check_book
from engine.artifacts.epub import write_epub
from engine.artifacts.errors import BuildCanceled, BuildFailed, UnknownFormat
from engine.artifacts.plain import write_json, write_txt
from engine.artifacts.tcr import write_tcr


class Format(msgspec.Struct, frozen=True, kw_only=True):
    """A format: its name (as in ``engine.domain.model.ALL_FORMATS``), the media type and file
    extension of its files, and whether it is written natively or converted by Calibre."""

    name: str
    media_type: str
    extension: str
    made_by: Literal["native", "calibre"]


def _format(name: str, media_type: str, made_by: Literal["native", "calibre"]) -> Format:
    return Format(name=name, media_type=media_type, extension=name, made_by=made_by)


FORMATS: Mapping[str, Format] = MappingProxyType(
    {
        f.name: f
        for f in (
            _format("epub", "application/epub+zip", "native"),
            _format("json", "application/json", "native"),
            _format("txt", "text/plain; charset=utf-8", "native"),
            _format("tcr", "application/octet-stream", "native"),
            _format("pdf", "application/pdf", "calibre"),
            _format("mobi", "application/x-mobipocket-ebook", "calibre"),
            _format(
                "docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "calibre",
            ),
            _format("rtf", "application/rtf", "calibre"),
            _format("fb2", "application/x-fictionbook+xml", "calibre"),
            _format("azw3", "application/vnd.amazon.ebook", "calibre"),
            _format("lit", "application/x-ms-reader", "calibre"),
            _format("lrf", "application/x-sony-bbeb", "calibre"),
            _format("pdb", "application/vnd.palm", "calibre"),
            _format("rb", "application/octet-stream", "calibre"),
        )
    }
)

_NATIVE: Mapping[str, Callable[[Book, Path], Path]] = MappingProxyType(
    {"epub": write_epub, "json": write_json, "txt": write_txt, "tcr": write_tcr}
)


def format_of(name: str) -> Format:
    """The format called `name`; UnknownFormat if there is none."""
    try:
        return FORMATS[name]
    except KeyError as e:
        raise UnknownFormat(f"{name!r} is not a format ({', '.join(FORMATS)})") from e


def can_make(name: str) -> bool:
    """Whether `name` is a format and this machine can make it now: the native ones always,
    the Calibre ones when ``ebook-convert`` is installed."""
    spec = FORMATS.get(name)
    return spec is not None and (spec.made_by == "native" or calibre.available())


def file_stem(title: str) -> str:
    """A file name stem from `title`: its words (letters and digits of any script) joined by
    ``_``, at most 80 characters; ``book`` when nothing is left."""
    return "_".join(re.findall(r"\w+", title))[:80].strip("_") or "book"


async def build(
    book: Book,
    fmt: str,
    directory: Path,
    *,
    cancel: asyncio.Event | None = None,
    timeout: float = calibre.DEFAULT_TIMEOUT,
    epub: Path | None = None,
) -> Path:
    """Build `book` in format `fmt` into `directory` and return the file's path,
    ``<file_stem(title)>.<extension>``, which appears only once complete.

    Checks the book first (InvalidBook). Native formats are written in a worker thread;
    Calibre formats are converted from `epub` when given (an epub of this same book, as
    built here), else from one built in a temporary directory, under `timeout` and
    `cancel` (see :func:`engine.artifacts.calibre.convert`). `cancel` is checked before
    a native build starts; a native build runs to its end. Errors are ArtifactErrors.
    """
    spec = format_of(fmt)
    check_book(book)
    if cancel is not None and cancel.is_set():
        raise BuildCanceled("the build was canceled before it started")
    stem = file_stem(book.title)
    partial = directory / f"{stem}.partial.{spec.extension}"
    try:
        if spec.made_by == "native":
            await _write_native(book, spec, partial)
        else:
            await _convert(book, partial, epub, cancel=cancel, timeout=timeout)
        return partial.replace(directory / f"{stem}.{spec.extension}")
    except OSError as e:  # the directory: missing, read-only, full
        raise BuildFailed(f"building the {spec.name} file failed: {e}") from e
    finally:
        partial.unlink(missing_ok=True)  # gone once published; what a failure left behind


async def _write_native(book: Book, spec: Format, path: Path) -> None:
    try:
        await asyncio.to_thread(_NATIVE[spec.name], book, path)
    except Exception as e:
        # The book was checked: what fails now is the disk, or a library on input the checks
        # did not foresee. Either way the build failed, with the cause chained.
        raise BuildFailed(f"writing the {spec.name} file failed: {e}") from e


async def _convert(
    book: Book, target: Path, epub: Path | None, *, cancel: asyncio.Event | None, timeout: float
) -> None:
    if epub is not None:
        await _calibre(book, epub, target, cancel=cancel, timeout=timeout)
        return
    with tempfile.TemporaryDirectory(prefix="epub-", dir=target.parent) as scratch:
        source = Path(scratch) / f"{file_stem(book.title)}.epub"
        await _write_native(book, FORMATS["epub"], source)
        await _calibre(book, source, target, cancel=cancel, timeout=timeout)


async def _calibre(
    book: Book, source: Path, target: Path, *, cancel: asyncio.Event | None, timeout: float
) -> None:
    await calibre.convert(
        source, target, title=book.title, authors=book.authors, cancel=cancel, timeout=timeout
    )
