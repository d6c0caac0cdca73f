"""Small real books for the builders' tests: real PNG and GIF images, non-ASCII text."""

from __future__ import annotations

import base64
import struct
import zlib

from engine.artifacts.book import Book, BookChapter, BookVolume, Image

# The classic 1x1 GIF89a.
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

TITLE = "Ça ira — 東京の夜 (Grüße)"
AUTHORS = ["Zoë Ångström", "李小龙"]
VOLUMES = 3
CHAPTERS_PER_VOLUME = 4


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (8-bit RGB, no interlace)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def marker(volume: int, chapter: int) -> str:
    """A word found only in that chapter's text (ASCII, so every format keeps it)."""
    return f"zephyrquartz{volume}x{chapter:02d}"


def chapter_html(volume: int, chapter: int) -> str:
    return (
        f"<p>Il était une fois, {marker(volume, chapter)} — «naïve» café, 東京タワー.</p>"
        "<p>Second paragraph<br>with a line break &amp; an entity.</p>"
    )


def sample_book() -> Book:
    """3 volumes of 4 chapters, a PNG cover, two images (PNG and GIF) shown by the first
    chapter, non-ASCII titles and text."""
    volumes = [
        BookVolume(
            title=f"Volume {v} — Tōhoku",
            chapters=[
                BookChapter(title=f"Chapitre {v}.{c}: Ærø", html=chapter_html(v, c))
                for c in range(1, CHAPTERS_PER_VOLUME + 1)
            ],
        )
        for v in range(1, VOLUMES + 1)
    ]
    first = volumes[0].chapters[0]
    volumes[0].chapters[0] = BookChapter(
        title=first.title,
        html=first.html + '<p><img src="images/map.png" alt="a map"><img src="images/dot.gif"></p>',
        images=["map", "dot"],
    )
    return Book(
        title=TITLE,
        authors=AUTHORS,
        language="fr",
        synopsis="Une histoire.\n\nDeuxième paragraphe, 日本語.",
        tags=["fantaisie", "冒険"],
        source_url="https://novels.example/ca-ira",
        cover=Image(media_type="image/png", data=png(60, 90, (200, 30, 30))),
        volumes=volumes,
        images={
            "map": Image(media_type="image/png", data=png(40, 20, (20, 120, 220))),
            "dot": Image(media_type="image/gif", data=GIF),
        },
    )
