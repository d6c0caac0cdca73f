"""Library events made to measure: a novel parsed, its table of contents listed, chapters,
images and artifacts stored, as the novel jobs record them."""

from __future__ import annotations

import hashlib

from engine.domain.envelope import event_envelope
from engine.domain.events import (
    ArtifactStored,
    ChapterInfo,
    ChaptersListed,
    ChapterStored,
    ImageInfo,
    ImageStored,
    NovelParsed,
    VolumeInfo,
)

PER_VOLUME = 100


def hex_id(text: str) -> str:
    """A library id (16 lower-case hex digits) made from `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chapter_url(novel_id: str, serial: int) -> str:
    return f"https://novels.test/{novel_id}/chapter-{serial}"


def chapter_infos(novel_id: str, count: int, *, first: int = 1) -> list[ChapterInfo]:
    """`count` chapters from serial `first`, PER_VOLUME a volume."""
    return [
        ChapterInfo(
            id=hex_id(chapter_url(novel_id, s)),
            serial=s,
            title=f"Chapter {s}",
            url=chapter_url(novel_id, s),
            volume_id=f"{novel_id}-v{(s - 1) // PER_VOLUME + 1}",
        )
        for s in range(first, first + count)
    ]


def parsed(
    job_id: str, novel_id: str, *, title: str, chapters: int, at: int | None = None,
    parts: int = 1, cover_url: str | None = None,
) -> NovelParsed:  # fmt: skip
    volumes = (chapters + PER_VOLUME - 1) // PER_VOLUME
    return NovelParsed(
        **event_envelope(job_id, "w1", at=at), novel_id=novel_id,
        url=f"https://novels.test/{novel_id}/", source="novelfull", title=title,
        authors=["A. Writer"], synopsis="<p>About it.</p>", tags=["Fantasy"],
        cover_url=cover_url, chapter_count=chapters, parts=parts,
        volumes=[
            VolumeInfo(id=f"{novel_id}-v{v}", serial=v, title=f"Volume {v}")
            for v in range(1, volumes + 1)
        ],
    )  # fmt: skip


def listed(
    job_id: str, novel_id: str, chapters: list[ChapterInfo], *, part: int = 0,
    at: int | None = None,
) -> ChaptersListed:  # fmt: skip
    return ChaptersListed(
        **event_envelope(job_id, "w1", at=at), novel_id=novel_id, part=part, chapters=chapters
    )


def stored(
    job_id: str, novel_id: str, chapter_id: str, *, size: int = 100,
    images: list[ImageInfo] | None = None, at: int | None = None,
) -> ChapterStored:  # fmt: skip
    return ChapterStored(
        **event_envelope(job_id, "w1", at=at), novel_id=novel_id, chapter_id=chapter_id,
        title="stored", bytes=size, images=images or [],
    )  # fmt: skip


def image(
    job_id: str, novel_id: str, info: ImageInfo, *, ok: bool = True,
    chapter_id: str | None = None, cover: bool = False, content_type: str = "image/png",
    size: int = 10, at: int | None = None,
) -> ImageStored:  # fmt: skip
    return ImageStored(
        **event_envelope(job_id, "w1", at=at), novel_id=novel_id, image_id=info.id,
        url=info.url, ok=ok, chapter_id=chapter_id, cover=cover,
        content_type=content_type if ok else "", bytes=size if ok else 0,
        error=None if ok else "HTTP 404",
    )  # fmt: skip


def image_info(url: str) -> ImageInfo:
    return ImageInfo(id=hex_id(url), url=url)


def artifact(
    job_id: str, novel_id: str, *, fmt: str = "epub", file_name: str = "Novel.epub",
    content_type: str = "application/epub+zip", size: int = 1000, at: int | None = None,
) -> ArtifactStored:  # fmt: skip
    return ArtifactStored(
        **event_envelope(job_id, "w1", at=at), novel_id=novel_id,
        artifact_id=job_id, format=fmt, file_name=file_name, content_type=content_type,
        bytes=size,
    )  # fmt: skip
