"""Reading order, serials, volumes and titles (engine/novels/normalize.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.novels.model import ChapterRef
from engine.novels.normalize import (
    ChapterLink,
    NovelParts,
    assemble_novel,
    clean_names,
    clean_text,
    group_volumes,
)


def _chapters(count: int) -> list[ChapterRef]:
    return [
        ChapterRef(serial=n, title=f"C{n}", url=f"http://s.test/c/{n}", volume=0)
        for n in range(1, count + 1)
    ]


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=1, max_value=150))
def test_grouping_fills_volumes_in_order(count: int, per_volume: int) -> None:
    volumes, grouped = group_volumes(_chapters(count), per_volume)
    assert [c.url for c in grouped] == [c.url for c in _chapters(count)]
    assert [v.serial for v in volumes] == list(range(1, len(volumes) + 1))
    sizes = [sum(1 for c in grouped if c.volume == v.serial) for v in volumes]
    assert all(size == per_volume for size in sizes[:-1])
    assert all(0 < size <= per_volume for size in sizes)
    assert sum(sizes) == count
    assert [c.volume for c in grouped] == sorted(c.volume for c in grouped)


def test_250_chapters_make_volumes_of_100_100_and_50() -> None:
    volumes, grouped = group_volumes(_chapters(250))
    assert [v.title for v in volumes] == ["Volume 1", "Volume 2", "Volume 3"]
    assert [grouped[k].volume for k in (0, 99, 100, 199, 200, 249)] == [1, 1, 2, 2, 3, 3]


def test_grouping_refuses_empty_volumes() -> None:
    with pytest.raises(ValueError, match="per_volume"):
        group_volumes(_chapters(3), 0)


def test_titles_are_unescaped_normalised_and_keep_their_case() -> None:
    fullwidth = "\uff33\uff37\uff2f\uff32\uff24"  # SWORD in fullwidth letters
    assert clean_text(f"  The\n iPhone &amp;\tthe {fullwidth} ") == "The iPhone & the SWORD"
    assert clean_names(["Ann", " ann ", "", "Bo &amp; Co", "Ann"]) == ("Ann", "Bo & Co")


_LINKS = st.lists(
    st.builds(
        ChapterLink,
        url=st.integers(0, 30).map(lambda n: f"http://s.test/c/{n}"),
        title=st.sampled_from(["", "  Start ", "Next &amp; more"]),
        volume=st.none() | st.integers(-1, 4),
    ),
    max_size=60,
)
_TITLES = st.none() | st.lists(st.sampled_from(["Vol A", "", "Vol C"]), max_size=4)


@given(_LINKS, _TITLES)
def test_assembled_novels_keep_their_invariants(
    links: list[ChapterLink], titles: list[str] | None
) -> None:
    novel = assemble_novel(
        NovelParts(url="http://s.test/n", title="N", chapters=links, volume_titles=titles)
    )
    urls = [c.url for c in novel.chapters]
    assert sorted(urls) == sorted(set(link.url for link in links))
    assert [c.serial for c in novel.chapters] == list(range(1, len(urls) + 1))
    assert [v.serial for v in novel.volumes] == list(range(1, len(novel.volumes) + 1))
    used = [c.volume for c in novel.chapters]
    assert used == sorted(used)  # chapters run through the volumes in order
    assert set(used) == {v.serial for v in novel.volumes}  # no empty volume
    assert all(c.title for c in novel.chapters)


def test_source_volumes_take_others_and_drop_empty_ones() -> None:
    links = [
        ChapterLink(url="http://s.test/3", title="Three", volume=2),
        ChapterLink(url="http://s.test/1", title="", volume=0),
        ChapterLink(url="http://s.test/x", title="Loose", volume=None),
        ChapterLink(url="http://s.test/1", title="Again", volume=2),
    ]
    parts = NovelParts(
        url="http://s.test/n", title="N", chapters=links, volume_titles=["One", "Empty", "Three"]
    )
    novel = assemble_novel(parts)
    assert [(v.serial, v.title) for v in novel.volumes] == [(1, "One"), (2, "Three"), (3, "Others")]
    assert [(c.serial, c.title, c.volume) for c in novel.chapters] == [
        (1, "Chapter 1", 1),
        (2, "Three", 2),
        (3, "Loose", 3),
    ]
