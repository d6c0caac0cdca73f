"""TCR: a decoder written here from the format's description reads back what the compressor
wrote, for any bytes; the dictionary obeys the format's limits; text shrinks."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.artifacts.plain import book_text
from engine.artifacts.tcr import HEADER, compress, write_tcr
from tests.unit.artifacts.books import sample_book


def decode(tcr: bytes) -> bytes:
    """Read a TCR file: the ``!!8-Bit!!`` header, 256 entries (a length byte, then that many
    bytes), then one-byte codes, each standing for its entry."""
    assert tcr.startswith(b"!!8-Bit!!")
    entries, offset = dictionary(tcr)
    return b"".join(entries[code] for code in tcr[offset:])


def dictionary(tcr: bytes) -> tuple[list[bytes], int]:
    """The 256 entries and the offset where the codes start."""
    entries, offset = [], 9
    for _ in range(256):
        length = tcr[offset]
        entries.append(tcr[offset + 1 : offset + 1 + length])
        assert len(entries[-1]) == length, "an entry runs past the end of the file"
        offset += 1 + length
    return entries, offset


words = st.sampled_from(["the ", "and ", "of ", "dragon ", "é", "東京", "\n\n", ". ", "a"])


@given(st.binary(max_size=3000))
def test_any_bytes_round_trip(data: bytes) -> None:
    assert decode(compress(data)) == data


@given(st.lists(words, max_size=400).map(lambda parts: "".join(parts).encode()))
def test_repetitive_text_round_trips(data: bytes) -> None:
    assert decode(compress(data)) == data


@settings(max_examples=50)
@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=300))
def test_a_sample_smaller_than_the_text_still_round_trips(data: bytes, sample: int) -> None:
    # Pairs are counted on the first `sample` bytes only; the merges apply to all of it.
    assert decode(compress(data, sample=sample)) == data


def test_every_byte_value_leaves_no_free_code_and_still_round_trips() -> None:
    data = bytes(range(256)) * 20
    tcr = compress(data)
    entries, offset = dictionary(tcr)
    assert entries == [bytes([code]) for code in range(256)]
    assert tcr[offset:] == data


def test_long_runs_keep_entries_within_255_bytes() -> None:
    data = b"a" * 100_000 + b"b" * 70_000
    tcr = compress(data)
    entries, _ = dictionary(tcr)
    # A run doubles its entry at each merge (a, aa, aaaa, ...) until the next (256) would
    # not fit a length byte.
    assert max(len(entry) for entry in entries) == 128
    assert decode(tcr) == data
    assert len(tcr) < 3000  # of 170,000


def test_prose_shrinks_by_a_third_or_more() -> None:
    text = book_text(sample_book()).encode("utf-8") * 5
    tcr = compress(text)
    assert decode(tcr) == text
    assert len(tcr) < len(text) * 2 / 3


def test_empty_input_is_a_header_and_an_identity_dictionary() -> None:
    tcr = compress(b"")
    assert tcr.startswith(HEADER)
    assert dictionary(tcr) == ([bytes([c]) for c in range(256)], len(tcr))


def test_write_tcr_holds_the_books_text_as_utf8(tmp_path: Path) -> None:
    book = sample_book()
    path = write_tcr(book, tmp_path / "book.tcr")
    assert decode(path.read_bytes()).decode("utf-8") == book_text(book)
