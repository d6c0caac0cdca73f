"""The library's content: chapter bodies in the LIBRARY stream, files in the `library` object
store. The log (`JOBS`) holds only the facts that say what is here (`chapter_stored`,
`image_stored`, `artifact_stored`).

- Chapter bodies: one subject per chapter, `library.<novel id>.ch.<chapter id>`, newest kept,
  never truncated (a body over the message limit is refused, not cut). Content is shared by
  every job and user that fetches the same novel, and a job's purge leaves it.
- Chapters' images up to INLINE_IMAGE_BYTES: `library.<novel id>.img.<image id>`, stored
  with chapter bodies in one write, their content type in a header.
- Files: `<novel id>/cover`, `<novel id>/images/<image id>` (larger images, an IMAGE job's)
  and `<novel id>/artifacts/<artifact id>`, each with its content type.

Novel, chapter and image ids are 16 lower-case hex digits (`engine.novels.model.url_id`); an
artifact id is the ARTIFACT job's id. Every id is checked before it becomes a subject or name.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    ObjectInfo,
    ObjectMeta,
    ObjectMetaOptions,
    ObjectStoreConfig,
    RawStreamMsg,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.object_store import ObjectStore

from engine.domain.errors import InvalidCommand
from engine.domain.ids import job_token
from engine.jetstream.atomic import BatchRefused, Message, publish_atomic
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.objects import described_at, read_description, read_file
from engine.jetstream.provision import (
    create_once,
    ensure_stream,
    settled_info,
    wait_for_leader,
)
from engine.jetstream.store import (
    WRONG_LAST_SEQUENCE,
    direct_batch,
    direct_last_for,
    sequence_of,
    subject_counts,
)

LIBRARY_STREAM = "LIBRARY"
LIBRARY_BUCKET = "library"
HEADROOM = 4096  # a chapter message also carries headers
INLINE_IMAGE_BYTES = 1024 * 1024  # a chapter's image up to this size is stored in LIBRARY
_TYPE = "Content-Type"  # the header of an image stored in LIBRARY that says its type
_ITEM_ID = re.compile(r"[0-9a-f]{16}")
_CHUNK = 1024 * 1024  # object store chunks: each is one fsync'd publish
_OBJ_STREAM = f"OBJ_{LIBRARY_BUCKET}"
_NEW_CHUNK = 128 * 1024  # add_file's chunks: nats-py's size, so either client reads them


class Chapter(msgspec.Struct, frozen=True, kw_only=True):
    """A stored chapter body: cleaned XHTML and the title it was stored under."""

    title: str
    html: str


class Blob(msgspec.Struct, frozen=True, kw_only=True):
    """A stored file and its content type."""

    data: bytes
    content_type: str


class FileInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the library says of a stored file without reading it: its size and type."""

    size: int
    content_type: str


def item_token(value: str, field: str) -> str:
    """`value` once checked to be a novel, chapter or image id; InvalidCommand otherwise."""
    if not isinstance(value, str) or _ITEM_ID.fullmatch(value) is None:
        raise InvalidCommand(f"{field}: {str(value)[:40]!r} is not a library id", field=field)
    return value


def chapter_subject(novel_id: str, chapter_id: str) -> str:
    return f"library.{item_token(novel_id, 'novel_id')}.ch.{item_token(chapter_id, 'chapter_id')}"


def image_subject(novel_id: str, image_id: str) -> str:
    """Where a chapter's image small enough is stored, beside the chapter bodies."""
    return f"library.{item_token(novel_id, 'novel_id')}.img.{item_token(image_id, 'image_id')}"


def cover_object(novel_id: str) -> str:
    return f"{item_token(novel_id, 'novel_id')}/cover"


def image_object(novel_id: str, image_id: str) -> str:
    return f"{item_token(novel_id, 'novel_id')}/images/{item_token(image_id, 'image_id')}"


def artifact_object(novel_id: str, artifact_id: str) -> str:
    return f"{item_token(novel_id, 'novel_id')}/artifacts/{job_token(artifact_id, 'artifact_id')}"


def library_stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=LIBRARY_STREAM,
        num_replicas=replicas,
        subjects=["library.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_msgs_per_subject=1,
        discard=DiscardPolicy.OLD,
        allow_direct=True,
        allow_atomic=True,
        max_msg_size=16 * 1024 * 1024,
    )


class LibraryStore:
    """Reads and writes the library's content; build it with `LibraryStore.open`."""

    def __init__(self, nc: NATS, js: JetStreamContext, files: ObjectStore, timeout: float) -> None:
        self._nc = nc
        self._js = js
        self._files = files
        self._timeout = timeout
        self._encode = msgspec.json.Encoder().encode
        self._decode = msgspec.json.Decoder(Chapter).decode

    @property
    def max_chapter_bytes(self) -> int:
        """The largest chapter (encoded) one message of this server holds."""
        return int(self._nc.max_payload) - HEADROOM

    @classmethod
    async def open(cls, nc: NATS, *, timeout: float = 10.0, replicas: int = 1) -> LibraryStore:
        """The store, its stream and bucket created (with `replicas`) if missing
        (idempotent)."""
        js = nc.jetstream(timeout=timeout)
        try:
            await ensure_stream(js, library_stream_config(replicas))
            files = await _bucket(js, replicas)
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise StoreUnavailable(f"cannot open the library: {e!r}") from e
        return cls(nc, js, files, timeout)

    def chapter_message(
        self, novel_id: str, chapter_id: str, chapter: Chapter
    ) -> tuple[str, bytes]:
        """The subject and payload that store `chapter` (for a recorder's body batch).

        Raises InvalidCommand when the body is larger than one message may be.
        """
        data = self._encode(chapter)
        if len(data) > self.max_chapter_bytes:
            raise InvalidCommand(
                f"chapter {chapter_id}: body of {len(data)} bytes is over the server's "
                f"{self.max_chapter_bytes}-byte message limit", field="chapter_id",
            )  # fmt: skip
        return chapter_subject(novel_id, chapter_id), data

    async def put_chapter(self, novel_id: str, chapter_id: str, chapter: Chapter) -> int:
        """Store a chapter body (replacing an older one); its size in bytes."""
        subject, data = self.chapter_message(novel_id, chapter_id, chapter)
        try:
            await self._js.publish(subject, data, stream=LIBRARY_STREAM)
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise StoreUnavailable(f"cannot store chapter {chapter_id}: {e!r}") from e
        return len(data)

    async def put_chapters(
        self, messages: Sequence[tuple[str, bytes]], images: Sequence[Message] = ()
    ) -> None:
        """Store chapter bodies (from `chapter_message`) and images (from `image_message`)
        all together, with one fsync'd write (an atomic batch; one by one if the stream
        refuses it). StoreUnavailable when the stream does not store them."""
        batch = [(subject, data, None) for subject, data in messages] + list(images)
        try:
            if len(batch) > 1:
                with contextlib.suppress(BatchRefused):
                    await publish_atomic(self._nc, batch, self._timeout)
                    return
            acks = [await self._js.publish_async(s, d, headers=h) for s, d, h in batch]
            async with asyncio.timeout(self._timeout):
                await asyncio.gather(*acks)
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as e:
            raise StoreUnavailable(f"cannot store {len(batch)} chapters: {e!r}") from e

    def image_message(
        self, novel_id: str, image_id: str, data: bytes, content_type: str
    ) -> Message | None:
        """The message that stores a chapter's image in LIBRARY, with the chapter bodies of
        a `put_chapters` (no write of its own); None when it is too large for one message
        and must be stored as a file (`image_object`)."""
        if len(data) > min(INLINE_IMAGE_BYTES, self.max_chapter_bytes):
            return None
        return image_subject(novel_id, image_id), data, {_TYPE: content_type}

    async def inline_image_ids(self, novel_id: str) -> set[str]:
        """The ids of the novel's images stored in LIBRARY (one request)."""
        prefix = f"library.{item_token(novel_id, 'novel_id')}.img."
        return set(await subject_counts(self._js, LIBRARY_STREAM, prefix, "images"))

    async def get_image(self, novel_id: str, image_id: str) -> Blob | None:
        """A chapter's image: stored in LIBRARY, else as a file; None when neither."""
        inline = await self._inline_image(novel_id, image_id)
        return (
            inline if inline is not None else await self.get_file(image_object(novel_id, image_id))
        )

    async def image_info(self, novel_id: str, image_id: str) -> FileInfo | None:
        """The size and type of a chapter's image, wherever it is stored; None when it is
        not."""
        inline = await self._inline_image(novel_id, image_id)
        if inline is not None:
            return FileInfo(size=len(inline.data), content_type=inline.content_type)
        return await self.file_info(image_object(novel_id, image_id))

    async def drop_inline_image(self, novel_id: str, image_id: str) -> None:
        """Remove the image's copy in LIBRARY (it is being stored as a file, which readers
        would not see behind it)."""
        try:
            await self._js.purge_stream(LIBRARY_STREAM, subject=image_subject(novel_id, image_id))
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise StoreUnavailable(f"cannot replace image {image_id}: {e!r}") from e

    async def _inline_image(self, novel_id: str, image_id: str) -> Blob | None:
        msg = await self._last(image_subject(novel_id, image_id), f"image {image_id}")
        if msg is None:
            return None
        return Blob(data=msg.data or b"", content_type=(msg.headers or {}).get(_TYPE, _UNTYPED))

    async def get_chapter(self, novel_id: str, chapter_id: str) -> Chapter | None:
        msg = await self._last(chapter_subject(novel_id, chapter_id), f"chapter {chapter_id}")
        return None if msg is None else self._decode(msg.data or b"{}")

    async def _last(self, subject: str, what: str) -> RawStreamMsg | None:
        """The message stored on `subject` in LIBRARY (one direct get); None when there is
        none, StoreUnavailable naming `what` when the stream does not answer."""
        try:
            return await self._js.get_last_msg(LIBRARY_STREAM, subject, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise StoreUnavailable(f"cannot read {what}: {e!r}") from e

    async def chapters(self, novel_id: str) -> dict[str, Chapter]:
        """Every stored chapter body of the novel, by chapter id (paged direct gets)."""
        prefix = f"library.{item_token(novel_id, 'novel_id')}.ch."
        out: dict[str, Chapter] = {}
        seq = 1
        while True:
            try:
                msgs = await direct_batch(
                    self._nc, LIBRARY_STREAM, prefix + "*", seq, self._timeout, batch=500
                )
            except nats.errors.TimeoutError as e:
                raise StoreUnavailable(f"cannot read novel {novel_id}'s chapters") from e
            for msg in msgs:  # a direct get's reply names the stored subject in a header
                subject = (msg.headers or {}).get("Nats-Subject", "")
                out[subject.removeprefix(prefix)] = self._decode(msg.data)
            if len(msgs) < 500:
                return out
            seq = sequence_of(msgs[-1]) + 1

    async def stored_chapters(
        self, novel_id: str, chapter_ids: Sequence[str]
    ) -> dict[str, Chapter]:
        """The stored bodies among the novel's `chapter_ids`, by id: batched direct gets of
        those subjects only, however many chapters the novel has."""
        prefix = f"library.{item_token(novel_id, 'novel_id')}.ch."
        subjects = [chapter_subject(novel_id, cid) for cid in chapter_ids]
        msgs = await direct_last_for(self._nc, LIBRARY_STREAM, subjects, self._timeout)
        return {
            (m.headers or {}).get("Nats-Subject", "").removeprefix(prefix): self._decode(m.data)
            for m in msgs
        }

    async def stored_chapter_ids(self, novel_id: str) -> set[str]:
        """The ids of the novel's chapters that have a stored body."""
        prefix = f"library.{item_token(novel_id, 'novel_id')}.ch."
        return set(
            await subject_counts(self._js, LIBRARY_STREAM, prefix, f"novel {novel_id}'s chapters")
        )

    async def put_file(self, name: str, data: bytes, content_type: str) -> int:
        """Store a file under `name` (from `cover_object`, `image_object`, `artifact_object`)."""
        meta = ObjectMeta(name=name, description=content_type)
        try:
            await self._files.put(name, data, meta=meta)
        except (nats.errors.Error, nats.js.errors.Error) as e:
            raise StoreUnavailable(f"cannot store {name}: {e!r}") from e
        return len(data)

    async def get_file(self, name: str) -> Blob | None:
        """The file stored under `name`, None when there is none (direct gets: see
        `engine.jetstream.objects`). StoreUnavailable when it cannot be read whole."""
        found = await read_file(self._nc, self._js, LIBRARY_BUCKET, name, self._timeout)
        if found is None:
            return None
        said, data = found
        return Blob(data=data, content_type=said.description or _UNTYPED)

    async def file_info(self, name: str) -> FileInfo | None:
        """The size and type of the file stored under `name`, None when there is none; one
        direct get of its description, its content not read."""
        said = await read_description(self._js, _OBJ_STREAM, _described_at(name))
        if said is None:
            return None
        return FileInfo(size=said.size, content_type=said.description or _UNTYPED)

    async def add_file(self, name: str, data: bytes, content_type: str) -> int:
        """Store a file under `name`, which `file_info` just found free; its size in bytes.

        `put_file` looks the name up again (to drop an older file's chunks), then writes the
        chunks and the description. This writes the chunks, then the description on condition
        that `name` still has none (`Nats-Expected-Last-Subject-Sequence: 0`): a round trip
        fewer. If a file was stored under `name` meanwhile, the new chunks are dropped and
        `put_file` replaces it. (One atomic batch of both cost nats-server more CPU than the
        two publishes in bench/novel.py, and the worker no less.)
        """
        nuid = secrets.token_urlsafe(16)  # a subject token naming this upload's chunks
        chunks = f"$O.{LIBRARY_BUCKET}.C.{nuid}"
        subject, description = self._description(name, nuid, data, content_type)
        new = {"Nats-Expected-Last-Subject-Sequence": "0"}
        try:
            for at in range(0, len(data), _NEW_CHUNK):
                await self._js.publish(chunks, data[at : at + _NEW_CHUNK], stream=_OBJ_STREAM)
            await self._js.publish(subject, description, headers=new, stream=_OBJ_STREAM)
        except nats.js.errors.APIError as e:
            await self._drop(chunks)
            if e.err_code != WRONG_LAST_SEQUENCE:
                raise StoreUnavailable(f"cannot store {name}: {e!r}") from e
            return await self.put_file(name, data, content_type)
        except (nats.errors.Error, nats.js.errors.Error) as e:
            await self._drop(chunks)
            raise StoreUnavailable(f"cannot store {name}: {e!r}") from e
        return len(data)

    def _description(
        self, name: str, nuid: str, data: bytes, content_type: str
    ) -> tuple[str, bytes]:
        """The subject and payload describing a new file whose chunks are under `nuid`
        (nats-py's object format, which `get_file` reads back)."""
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
        info = ObjectInfo(
            name=name, description=content_type, bucket=LIBRARY_BUCKET, nuid=nuid,
            size=len(data), chunks=-(-len(data) // _NEW_CHUNK), digest=f"SHA-256={digest}",
            mtime=datetime.now(UTC).isoformat(),
            options=ObjectMetaOptions(max_chunk_size=_NEW_CHUNK),
        )  # fmt: skip
        return _described_at(name), json.dumps(info.as_dict()).encode()

    async def _drop(self, chunks: str) -> None:
        with contextlib.suppress(nats.errors.Error, nats.js.errors.Error):
            await self._js.purge_stream(_OBJ_STREAM, subject=chunks)


_UNTYPED = "application/octet-stream"


def _described_at(name: str) -> str:
    return described_at(LIBRARY_BUCKET, name)


async def _bucket(js: JetStreamContext, replicas: int) -> ObjectStore:
    """The library's object store, created with `replicas` if missing (kept as found if not)."""
    if await settled_info(js, f"OBJ_{LIBRARY_BUCKET}") is None:
        config = ObjectStoreConfig(
            bucket=LIBRARY_BUCKET, storage=StorageType.FILE, replicas=replicas
        )
        name = f"object store {LIBRARY_BUCKET}"
        await create_once(name, lambda: js.create_object_store(LIBRARY_BUCKET, config))
    await wait_for_leader(js, _OBJ_STREAM)  # created, here or elsewhere, just now?
    return await js.object_store(LIBRARY_BUCKET)
