"""From the library to a book (engine/novels/binder.py): the table of contents folded from a
job's events, chapters in order with placeholders for the missing ones, images rewritten."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.artifacts.book import check_book
from engine.artifacts.markup import clean_html
from engine.domain.envelope import event_envelope
from engine.domain.events import AnyEvent, ChapterInfo, ChaptersListed, NovelParsed, VolumeInfo
from engine.jetstream.library import Chapter
from engine.novels.binder import (
    Contents,
    ContentsError,
    bind,
    image_ids,
    sniff_image,
    table_of_contents,
)
from engine.novels.model import url_id
from tests.unit.artifacts.books import GIF, png

JOB = "01J00000000000000000000000"
NOVEL_URL = "http://novels.test/novel/the-tale"
NOVEL = url_id(NOVEL_URL)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 "


def _parsed(volumes: list[VolumeInfo], count: int, parts: int) -> NovelParsed:
    return NovelParsed(
        **event_envelope(JOB, "w"), novel_id=NOVEL, url=NOVEL_URL, source="test",
        title="The Tale", volumes=volumes, chapter_count=count, parts=parts,
    )  # fmt: skip


def _listed(part: int, chapters: list[ChapterInfo], novel: str = NOVEL) -> ChaptersListed:
    env = event_envelope(JOB, "w")
    return ChaptersListed(**env, novel_id=novel, part=part, chapters=chapters)


def _toc(per_volume: list[int]) -> tuple[list[VolumeInfo], list[ChapterInfo]]:
    """Volumes of `per_volume[i]` chapters each, serials counting from 1."""
    volumes = [VolumeInfo(id=f"{NOVEL}-v{v}", serial=v, title=f"Book {v}") for v in
               range(1, len(per_volume) + 1)]  # fmt: skip
    chapters: list[ChapterInfo] = []
    for volume, count in zip(volumes, per_volume, strict=True):
        for _ in range(count):
            serial = len(chapters) + 1
            url = f"http://novels.test/novel/the-tale/chapter-{serial}"
            chapters.append(ChapterInfo(id=url_id(url), serial=serial, title=f"Chapter {serial}",
                                        url=url, volume_id=volume.id))  # fmt: skip
    return volumes, chapters


def _events(per_volume: list[int], part_size: int) -> list[AnyEvent]:
    volumes, chapters = _toc(per_volume)
    parts = [chapters[i : i + part_size] for i in range(0, len(chapters), part_size)]
    listed: list[AnyEvent] = [_listed(p, cs) for p, cs in enumerate(parts)]
    return [_parsed(volumes, len(chapters), len(parts)), *reversed(listed)]


def test_the_parts_are_joined_in_order_and_the_latest_parse_wins() -> None:
    events = _events([3, 4], part_size=2)
    contents = table_of_contents(events, NOVEL, JOB)
    assert [c.serial for c in contents.chapters] == list(range(1, 8))
    again = _events([1], part_size=5)  # a later attempt parsed a shorter novel
    other = _listed(0, _toc([9])[1], novel="ffffffffffffffff")  # another novel's part
    contents = table_of_contents([*events, *again, other], NOVEL, JOB)
    assert [c.serial for c in contents.chapters] == [1]


def test_a_missing_part_or_parse_is_an_error_naming_the_job() -> None:
    events = _events([5], part_size=2)
    with pytest.raises(ContentsError, match=rf"job {JOB}.*lacks part\(s\) 1 of 3"):
        table_of_contents([e for e in events if getattr(e, "part", None) != 1], NOVEL, JOB)
    with pytest.raises(ContentsError, match=f"job {JOB} holds no table of contents"):
        table_of_contents(events, "0000000000000000", JOB)


def test_only_jpeg_png_and_gif_bytes_make_images() -> None:
    sniffed = [sniff_image(d) for d in (JPEG, GIF, png(2, 2, (1, 2, 3)), WEBP, b"<svg/>")]
    assert [i.media_type if i else None for i in sniffed] == [
        "image/jpeg", "image/gif", "image/png", None, None,
    ]  # fmt: skip


@given(
    per_volume=st.lists(st.integers(0, 12), min_size=1, max_size=4),
    stored=st.lists(st.booleans(), min_size=48, max_size=48),
    part_size=st.integers(1, 9),
)
def test_every_chapter_is_in_the_book_in_order_and_missing_ones_are_counted(
    per_volume: list[int], stored: list[bool], part_size: int
) -> None:
    contents = table_of_contents(_events(per_volume, part_size), NOVEL, JOB)
    bodies = {
        c.id: Chapter(title=f"Stored {c.serial}", html=f"<p>text {c.serial}</p>")
        for c, keep in zip(contents.chapters, stored, strict=False) if keep
    }  # fmt: skip
    bound = bind(contents, bodies, {})
    book = bound.book
    assert [v.title for v in book.volumes] == [
        f"Book {v}" for v, n in enumerate(per_volume, 1) if n
    ]  # empty volumes are left out
    chapters = [c for v in book.volumes for c in v.chapters]
    assert len(chapters) == len(contents.chapters)
    assert bound.chapters_missing == len(contents.chapters) - len(bodies)
    for info, chapter in zip(contents.chapters, chapters, strict=True):
        if info.id in bodies:
            assert (chapter.title, chapter.html) == (f"Stored {info.serial}", bodies[info.id].html)
        else:
            assert chapter.title == info.title and "not been downloaded" in chapter.html
            assert info.url in chapter.html
    if chapters:
        check_book(book)


def test_images_the_library_has_are_rewritten_and_others_are_dropped_by_the_builder() -> None:
    contents = table_of_contents(_events([2], part_size=500), NOVEL, JOB)
    first, second = contents.chapters
    have, webp, absent = (f"http://cdn.test/img/{n}.bin?a=1&amp;b=2" for n in ("a", "b", "c"))
    body = f'<p>x<img src="{have}" alt=""/><img src="{webp}" alt=""/><img src="{absent}"/></p>'
    bodies = {first.id: Chapter(title="One", html=body + body)}
    ids = image_ids(bodies.values())
    assert ids == [url_id(u.replace("&amp;", "&")) for u in (have, webp, absent)]
    images = {ids[0]: sniff_image(JPEG)}  # the webp was not sniffed as an image: left out
    cover = sniff_image(GIF)
    bound = bind(contents, bodies, {k: v for k, v in images.items() if v}, cover)
    chapter = bound.book.volumes[0].chapters[0]
    assert chapter.images == [ids[0]]
    assert chapter.html.count(f'src="images/{ids[0]}.jpg"') == 2
    assert list(bound.book.images) == [ids[0]] and bound.book.cover == cover
    check_book(bound.book)
    kept = clean_html(chapter.html, {f"images/{ids[0]}.jpg"})
    assert kept.count("<img") == 2  # the builder's cleaning keeps only the book's images
    assert bound.chapters_missing == 1 and second.url in bound.book.volumes[0].chapters[1].html


def test_metadata_comes_from_the_parse() -> None:
    volumes, chapters = _toc([1])
    novel = msgspec.structs.replace(
        _parsed(volumes, 1, 1), authors=["Ann", " "], tags=["x", ""],
        synopsis="<p>First &amp; <b>bold</b>.</p><p>Second.</p>",
    )  # fmt: skip
    book = bind(Contents(novel=novel, chapters=chapters), {}, {}).book
    assert (book.title, book.authors, book.tags) == ("The Tale", ["Ann"], ["x"])
    assert book.synopsis == "First & bold.\n\nSecond." and book.source_url == NOVEL_URL
