"""What a source makes of a novel's pages, and the stable ids of novels and chapters.

Ids are derived from URLs, so fetching a novel again gives the same ids and updates the
stored novel in place instead of adding a second copy (:func:`url_id`).
"""

from __future__ import annotations

import functools
import hashlib

import msgspec

from engine.crawl.urls import normalize_url
from engine.novels.errors import InvalidNovelUrl
from engine.novels.hosts import host_key

ID_LENGTH = 16  # hex digits: 64 bits, far from collisions at library scale


@functools.lru_cache(maxsize=1 << 16)  # pure; a novel's ids are asked for again and again
def url_id(url: str) -> str:
    """A short stable id for ``url``: the first 16 hex digits of the SHA-256 of its key.

    The key is the URL in :func:`engine.crawl.urls.normalize_url`'s canonical form (no
    fragment, no trailing slash on a non-root path, default port dropped), without its
    scheme, with the host as :func:`engine.novels.hosts.host_key` spells it (lower case,
    IDNA, no ``www.``). So ``HTTPS://www.Site.com/novel/x/#top`` and
    ``http://site.com/novel/x`` share an id, and ``/novel/y`` does not. Raises
    InvalidNovelUrl for anything that is not an absolute http(s) URL.
    """
    canonical = normalize_url(url)
    if canonical is None:
        raise InvalidNovelUrl(f"not an absolute http(s) URL: {url!r}")
    rest = canonical.split("://", 1)[1]
    tail = rest[len(rest.split("/", 1)[0]) :]
    key = _origin_key(canonical[: len(canonical) - len(tail)]) + tail
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:ID_LENGTH]


# A novel's chapters share one origin: its host key is made once, not once per chapter.
_origin_key = functools.lru_cache(maxsize=1024)(host_key)


def novel_id(url: str) -> str:
    """The id of the novel whose page is at ``url`` (:func:`url_id`)."""
    return url_id(url)


def chapter_id(url: str) -> str:
    """The id of the chapter whose page is at ``url`` (:func:`url_id`)."""
    return url_id(url)


class VolumeRef(msgspec.Struct, frozen=True, kw_only=True):
    """A volume of a novel: ``serial`` counts from 1 in reading order."""

    serial: int
    title: str


class ChapterRef(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter in a novel's table of contents: ``serial`` counts from 1 in reading order,
    ``volume`` is the serial of the volume it belongs to."""

    serial: int
    title: str
    url: str
    volume: int

    @property
    def id(self) -> str:
        return chapter_id(self.url)


class NovelInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A novel's metadata and table of contents.

    ``synopsis`` is cleaned HTML (:func:`engine.novels.clean.clean_html`), possibly empty.
    ``chapters`` are in reading order with serials 1..N; every chapter's ``volume`` is the
    serial of one of ``volumes`` (serials 1..M, none empty).
    """

    url: str
    title: str
    authors: tuple[str, ...] = ()
    cover_url: str | None = None
    synopsis: str = ""
    tags: tuple[str, ...] = ()
    volumes: tuple[VolumeRef, ...] = ()
    chapters: tuple[ChapterRef, ...] = ()

    @property
    def id(self) -> str:
        return novel_id(self.url)


class ChapterContent(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter's text: ``html`` is the cleaned body (well-formed XHTML fragment, images
    with absolute ``src``), ``image_urls`` its images' absolute URLs in document order."""

    title: str
    html: str
    image_urls: tuple[str, ...] = ()
