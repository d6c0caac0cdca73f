"""From what a source found on the page to a :class:`NovelInfo`: reading order, serials,
volumes and clean titles. Pure functions."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence

import msgspec

from engine.novels.model import ChapterRef, NovelInfo, VolumeRef

CHAPTERS_PER_VOLUME = 100
OTHERS = "Others"
_SPACE = re.compile(r"\s+")


class ChapterLink(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter as a source found it: an absolute URL, the title as written (possibly with
    entities), and the index of its volume in the source's volume titles (None: none)."""

    url: str
    title: str = ""
    volume: int | None = None


class NovelParts(msgspec.Struct, frozen=True, kw_only=True):
    """What a source found on a novel's pages, before :func:`assemble_novel`. ``chapters``
    are in reading order; ``volume_titles`` are None when the site has no volumes."""

    url: str
    title: str
    authors: Sequence[str] = ()
    cover_url: str | None = None
    synopsis: str = ""
    tags: Sequence[str] = ()
    chapters: Sequence[ChapterLink] = ()
    volume_titles: Sequence[str] | None = None


def clean_text(raw: str) -> str:
    """``raw`` with HTML entities decoded, NFKC-normalised and whitespace collapsed.

    Case is kept as written: title-casing would damage names such as "iPhone".
    """
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", html.unescape(raw))).strip()


def clean_names(raw: Iterable[str]) -> tuple[str, ...]:
    """Authors or tags: each :func:`clean_text`-ed, empty ones dropped, duplicates (ignoring
    case) dropped after their first appearance."""
    seen: set[str] = set()
    names: list[str] = []
    for name in map(clean_text, raw):
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return tuple(names)


def group_volumes(
    chapters: Sequence[ChapterRef], per_volume: int = CHAPTERS_PER_VOLUME
) -> tuple[tuple[VolumeRef, ...], tuple[ChapterRef, ...]]:
    """Volumes for a novel whose site has none: ``per_volume`` chapters each, in order.

    The k-th chapter (0-based) goes to volume ``k // per_volume + 1``, titled "Volume n";
    every volume but the last is full, and no volume is empty. ``per_volume`` must be >= 1.
    """
    if per_volume < 1:
        raise ValueError(f"per_volume must be at least 1, not {per_volume}")
    count = -(-len(chapters) // per_volume)
    volumes = tuple(VolumeRef(serial=n, title=f"Volume {n}") for n in range(1, count + 1))
    grouped = tuple(
        msgspec.structs.replace(chapter, volume=k // per_volume + 1)
        for k, chapter in enumerate(chapters)
    )
    return volumes, grouped


def assemble_novel(parts: NovelParts) -> NovelInfo:
    """The :class:`NovelInfo` of ``parts``.

    A chapter URL seen before is dropped; a missing title becomes "Chapter n". Without
    volume titles, chapters keep their order and are grouped by :func:`group_volumes`.
    With them, a chapter without a (valid) volume goes to an extra "Others" volume at the
    end, volumes left empty are dropped, volume serials are 1..M in the source's order,
    and chapters are ordered by volume, keeping their order within one. Either way chapter
    serials are 1..N in the resulting order.
    """
    links = _unique(parts.chapters)
    if parts.volume_titles is None:
        volumes, refs = group_volumes(_numbered(links, [0] * len(links)))
    else:
        volumes, refs = _in_volumes(links, parts.volume_titles)
    return NovelInfo(
        url=parts.url,
        title=clean_text(parts.title),
        authors=clean_names(parts.authors),
        cover_url=parts.cover_url,
        synopsis=parts.synopsis,
        tags=clean_names(parts.tags),
        volumes=volumes,
        chapters=refs,
    )


def _unique(links: Iterable[ChapterLink]) -> list[ChapterLink]:
    seen: set[str] = set()
    unique = []
    for link in links:
        if link.url not in seen:
            seen.add(link.url)
            unique.append(link)
    return unique


def _numbered(links: Sequence[ChapterLink], volumes: Sequence[int]) -> tuple[ChapterRef, ...]:
    return tuple(
        ChapterRef(serial=n, title=clean_text(link.title) or f"Chapter {n}", url=link.url, volume=v)
        for n, (link, v) in enumerate(zip(links, volumes, strict=True), 1)
    )


def _in_volumes(
    links: Sequence[ChapterLink], titles: Sequence[str]
) -> tuple[tuple[VolumeRef, ...], tuple[ChapterRef, ...]]:
    others = len(titles)  # the slot of the "Others" volume, after the source's ones
    slots = [c.volume if c.volume is not None and 0 <= c.volume < others else others for c in links]
    serial_of = {slot: n for n, slot in enumerate(sorted(set(slots)), 1)}
    names = [*titles, OTHERS]
    volumes = tuple(
        VolumeRef(serial=n, title=clean_text(names[slot]) or f"Volume {n}")
        for slot, n in serial_of.items()
    )
    order = sorted(range(len(links)), key=lambda k: serial_of[slots[k]])  # stable
    return volumes, _numbered([links[k] for k in order], [serial_of[slots[k]] for k in order])
