"""The room a chapter's body leaves for its images in one write."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.novels.images import CHAPTER_INLINE_BYTES, Room


@given(st.lists(st.integers(0, 2 * 1024 * 1024), max_size=300), st.integers(0, 8 * 1024 * 1024))
def test_a_chapter_takes_images_while_they_fit_and_never_more(sizes: list[int], size: int) -> None:
    room = Room(size)
    taken = [n for n in sizes if room.take(n)]
    assert sum(taken) <= size and room.left == size - sum(taken)
    # an image refused did not fit in what was left when it came
    left = size
    for n in sizes:
        if n <= left:
            left -= n
    assert left == room.left


def test_the_default_room_keeps_a_chapter_of_many_images_to_a_few_megabytes() -> None:
    room = Room()
    assert sum(1 for _ in range(200) if room.take(1024 * 1024)) == CHAPTER_INLINE_BYTES // 2**20
    assert room.take(0) and not room.take(1)
