"""TCR: the Psion-era compressed text format, written natively.

The format: the header ``!!8-Bit!!``, then a dictionary of 256 strings (code 0 to 255), each
a length byte followed by that many bytes, then the text as a sequence of one-byte codes;
reading replaces each code by its string.

The compressor is byte-pair merging. Every code starts as itself (code ``b`` is the string
``bytes([b])``), so any input can be coded. While a code is unused in the coded text, the
most frequent pair of adjacent codes gets that code, and every occurrence of the pair is
replaced by it; a code that no longer occurs after a merge (a byte always followed by the
same other one) is free again. It stops when no code is free or no pair occurs twice.
Pairs are counted on the first `sample` bytes of the text only (counting is the costly
step); the merges are applied to the whole text, so every choice stays correct and only the
ratio depends on how representative the sample is.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from engine.artifacts.book import Book
from engine.artifacts.plain import book_text

HEADER = b"!!8-Bit!!"
MAX_ENTRY = 255  # a dictionary entry's length is one byte
DEFAULT_SAMPLE = 256 * 1024


def write_tcr(book: Book, path: Path) -> Path:
    """Write `book`'s text (as :func:`engine.artifacts.plain.book_text` renders it), UTF-8
    encoded and TCR compressed, to `path`."""
    path.write_bytes(compress(book_text(book).encode("utf-8")))
    return path


def compress(data: bytes, *, sample: int = DEFAULT_SAMPLE) -> bytes:
    """`data` as a TCR file: the header, 256 dictionary entries, the codes."""
    entries = [bytes([code]) for code in range(256)]
    coded, sampled = data, data[:sample]
    free = [code for code in range(255, -1, -1) if bytes([code]) not in data]
    while free:
        pair = _best_pair(sampled, entries)
        if pair is None:
            break
        code = free.pop()
        entries[code] = entries[pair[0]] + entries[pair[1]]
        joined, new = bytes(pair), bytes([code])
        coded, sampled = coded.replace(joined, new), sampled.replace(joined, new)
        free.extend(c for c in set(pair) if bytes([c]) not in coded)
    return HEADER + b"".join(bytes([len(e)]) + e for e in entries) + coded


def _best_pair(coded: bytes, entries: list[bytes]) -> tuple[int, int] | None:
    """The most frequent pair of adjacent codes in `coded` that occurs at least twice and
    whose strings fit one entry; None if there is none."""
    for (first, second), count in _pair_counts(coded).most_common():
        if count < 2:
            return None
        if len(entries[first]) + len(entries[second]) <= MAX_ENTRY:
            return first, second
    return None


def _pair_counts(coded: bytes) -> Counter[tuple[int, int]]:
    # Adjacent pairs read as 16-bit words at even then odd offsets: two C-speed passes.
    counts: Counter[int] = Counter()
    for start in (0, 1):
        end = start + (len(coded) - start) // 2 * 2
        counts.update(memoryview(coded)[start:end].cast("H"))
    return Counter({_word_pair(word): count for word, count in counts.items()})


def _word_pair(word: int) -> tuple[int, int]:
    # Native byte order: the first byte of the pair is the low byte on little-endian hosts.
    low, high = word & 0xFF, word >> 8
    return (low, high) if sys.byteorder == "little" else (high, low)
