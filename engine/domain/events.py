"""Events: the only facts the system stores. Tags are stable; schemas only grow.

Every event is published on `jobs.<job_id>.<kind>`. New fields must get defaults so that
old encoded events keep decoding (see tests/unit/fixtures/events_v1.jsonl).
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from engine.domain.ids import job_token


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Fields every event carries: ULID event id, job id, ms time and the actor."""

    event_id: str
    job_id: str
    at: int
    actor: str


class JobCreated(Event, frozen=True, kw_only=True, tag="created"):
    """A job was accepted; its parameters never change afterwards."""

    user_id: str
    type: int
    priority: int
    params: dict[str, Any] = {}
    title: str = ""
    parent_job_id: str | None = None
    depends_on: str | None = None
    extra: dict[str, Any] = {}
    total: int = 1
    after_finished: bool = False  # run once `depends_on` finished, whatever its outcome


class JobStarted(Event, frozen=True, kw_only=True, tag="started"):
    """A worker took the job (again, when `attempt` > 1)."""

    worker_id: str
    attempt: int = 1


class CancelRequested(Event, frozen=True, kw_only=True, tag="cancel_requested"):
    """Someone asked a running job to stop; its worker stops cooperatively."""


class JobCanceled(Event, frozen=True, kw_only=True, tag="canceled"):
    """The job stopped for good because of a cancel."""

    reason: str = ""


class JobSucceeded(Event, frozen=True, kw_only=True, tag="succeeded"):
    """The job finished its work."""


class JobFailed(Event, frozen=True, kw_only=True, tag="failed"):
    """The job ended with an error."""

    error: str


class JobDeleted(Event, frozen=True, kw_only=True, tag="deleted"):
    """The job is hidden from every read; its history stays in the log."""


class PageRecorded(Event, frozen=True, kw_only=True, tag="page"):
    """One URL of the job was attempted; `result_key` locates the stored body."""

    url: str
    ok: bool
    status: int = 0
    error: str | None = None
    attempt: int = 1
    meta: dict[str, Any] = {}
    result_key: str | None = None


class ProgressReported(Event, frozen=True, kw_only=True, tag="progress"):
    """Counters of long work, for progress bars between pages."""

    done: int = 0
    failed: int = 0
    total: int = 0
    skipped: int = 0


class LogWritten(Event, frozen=True, kw_only=True, tag="log"):
    """A human-readable log line about the job."""

    level: str = "info"
    message: str = ""


class ChildFinished(Event, frozen=True, kw_only=True, tag="child_finished"):
    """A batch child ended; the parent's counters come from these. A `status` that is not an
    end (PENDING) says the child runs again (a retry re-runs it): it counts no longer."""

    child_id: str
    status: int


class RetryRequested(Event, frozen=True, kw_only=True, tag="retry_requested"):
    """A finished job is queued again for its failed work only."""


class JobPurged(Event, frozen=True, kw_only=True, tag="purged"):
    """An admin erased the job's history; this tombstone, left in its place, holds no user data."""


# --- The library: what novel jobs learned. Bodies and files live outside the log (the
# LIBRARY stream and the `library` object store); these events say what is where.


class VolumeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A volume of a novel: id `<novel id>-v<serial>`, serials from 1 in reading order."""

    id: str
    serial: int
    title: str


class ChapterInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter in a table of contents: id derived from its URL, serials from 1."""

    id: str
    serial: int
    title: str
    url: str
    volume_id: str


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An image a chapter shows: id derived from its URL."""

    id: str
    url: str


class NovelParsed(Event, frozen=True, kw_only=True, tag="novel_parsed"):
    """A NOVEL or FULL_NOVEL job read a novel's metadata; its table of contents follows in
    `chapters_listed` parts (`parts` of them)."""

    novel_id: str
    url: str
    source: str
    title: str
    authors: list[str] = []
    synopsis: str = ""
    tags: list[str] = []
    cover_url: str | None = None
    volumes: list[VolumeInfo] = []
    chapter_count: int = 0
    parts: int = 0


class ChaptersListed(Event, frozen=True, kw_only=True, tag="chapters_listed"):
    """Part `part` (from 0) of a novel's table of contents, at most 500 chapters."""

    novel_id: str
    part: int
    chapters: list[ChapterInfo] = []


class ChapterStored(Event, frozen=True, kw_only=True, tag="chapter_stored"):
    """A chapter's cleaned body is in the LIBRARY stream (its `page` event says how the fetch
    went); `images` are the images it shows."""

    novel_id: str
    chapter_id: str
    title: str = ""
    bytes: int = 0
    images: list[ImageInfo] = []


class ImageStored(Event, frozen=True, kw_only=True, tag="image_stored"):
    """An image (a chapter's, or the cover when `chapter_id` is None and `cover` is set) is in
    the object store, or could not be fetched (`ok` false, `error` says why)."""

    novel_id: str
    image_id: str
    url: str
    ok: bool = True
    chapter_id: str | None = None
    cover: bool = False
    content_type: str = ""
    bytes: int = 0
    error: str | None = None


class ArtifactStored(Event, frozen=True, kw_only=True, tag="artifact_stored"):
    """An ARTIFACT job's file is in the object store; the artifact id is the job's id."""

    novel_id: str
    artifact_id: str
    format: str
    file_name: str
    content_type: str
    bytes: int
    chapters_missing: int = 0


class ChildSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A child a job fans out to: created with `child_id(parent, index)`; `after`, the index
    of a sibling it waits for (run once that sibling finished, whatever its outcome)."""

    type: int
    params: dict[str, Any] = {}
    title: str = ""
    total: int = 1
    after: int | None = None


class JobExpanded(Event, frozen=True, kw_only=True, tag="expanded"):
    """A running job fanned out: the dispatcher creates `children` and the job ends, like a
    batch, when they all have; `units` is the planned progress total (e.g. chapters + 1)."""

    children: list[ChildSpec] = []
    units: int = 0


class ItemScraped(Event, frozen=True, kw_only=True, tag="item"):
    """A SPIDER job extracted item `index` (from 0, in page order) of the page at `url`;
    recorded before that page's `page` event, once per (url, index) in the job."""

    url: str
    index: int = 0
    data: dict[str, Any] = {}


class StoredChapter(msgspec.Struct, frozen=True, kw_only=True):
    """One chapter of a `chapters_stored`: what its `chapter_stored` fact says (`bytes`: the
    stored body's size) and how its OK fetch went (`status`, `final_url` when redirected,
    `content_type`, `duration_ms`, `fetched`: the bytes fetched)."""

    chapter_id: str
    url: str
    title: str = ""
    bytes: int = 0
    images: list[ImageInfo] = []
    status: int = 200
    final_url: str | None = None
    content_type: str | None = None
    duration_ms: int = 0
    fetched: int = 0

    def page_meta(self, at: int) -> dict[str, Any]:
        """The chapter's page as a `page` event's `meta` would hold it (fetched at `at`)."""
        return {
            "url": self.url, "final_url": self.final_url or self.url, "status": self.status,
            "ok": True, "content_type": self.content_type, "duration_ms": self.duration_ms,
            "bytes": self.fetched, "scraped_at": at,
        }  # fmt: skip


class StoredImage(msgspec.Struct, frozen=True, kw_only=True):
    """One image of a `chapters_stored`: what its `image_stored` fact would say (an image of
    chapter `chapter_id`, never a cover)."""

    image_id: str
    url: str
    chapter_id: str
    ok: bool = True
    content_type: str = ""
    bytes: int = 0
    error: str | None = None


class ChaptersStored(Event, frozen=True, kw_only=True, tag="chapters_stored"):
    """Several chapters of novel `novel_id` were fetched OK and their bodies are in the
    LIBRARY stream: for each, one event that says what its `chapter_stored` fact and its OK
    `page` event would (the job folds each URL as an OK page). One event, and one fsync'd
    write of the bodies, for a group of chapters instead of two events and a page body each.
    `images`: the chapters' images stored (or that failed) with them, each what its
    `image_stored` would say (an image cost an event of its own before)."""

    novel_id: str
    chapters: list[StoredChapter] = []
    images: list[StoredImage] = []


AnyEvent = (
    JobCreated
    | JobStarted
    | CancelRequested
    | JobCanceled
    | JobSucceeded
    | JobFailed
    | JobDeleted
    | PageRecorded
    | ProgressReported
    | LogWritten
    | ChildFinished
    | RetryRequested
    | JobPurged
    | NovelParsed
    | ChaptersListed
    | ChapterStored
    | ImageStored
    | ArtifactStored
    | JobExpanded
    | ItemScraped
    | ChaptersStored
)

# Every event tag (the last token of the subject), e.g. to validate a `kind` filter.
EVENT_KINDS: frozenset[str] = frozenset(
    str(t.__struct_config__.tag) for t in typing.get_args(AnyEvent)
)


class Codec:
    """Encodes and decodes events; build one and share it (the decoder is compiled once)."""

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)

    def encode(self, event: Event) -> bytes:
        return self._encoder.encode(event)

    def decode(self, data: bytes) -> AnyEvent:
        return self._decoder.decode(data)


def kind_of(event: Event) -> str:
    """The event's stable tag, also the last token of its subject."""
    return str(event.__struct_config__.tag)


def subject_of(event: Event) -> str:
    """`jobs.<job id>.<kind>`; InvalidId when the event's job id is not a job id."""
    return f"jobs.{job_token(event.job_id)}.{kind_of(event)}"


def parse_subject(subject: str) -> tuple[str, str] | None:
    """`(job id, kind)` of a `subject_of` subject, read without decoding the event; None
    for any other shape."""
    parts = subject.split(".")
    return (parts[1], parts[2]) if len(parts) == 3 else None


def to_builtins(event: Event) -> dict[str, Any]:
    """The event's own data, without the envelope fields, as JSON-ready values."""
    data: dict[str, Any] = msgspec.to_builtins(event)
    for key in ("event_id", "job_id", "at", "actor", "kind"):
        data.pop(key, None)
    return data
