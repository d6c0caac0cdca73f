"""ARTIFACT jobs: one e-book file of a novel, made from the library.

Params `{novel_id, formats: [fmt], toc_job_id}` (one format; ARTIFACT_BATCH makes one job per
format). The novel's metadata and table of contents are folded from the `toc_job_id` job's log,
chapter bodies come from the LIBRARY stream, the cover and images from the `library` object
store (:mod:`engine.novels.binder` puts them together). The file is built in a temporary
directory off the event loop, one build at a time per worker (`ArtifactRun.artifact_builds`),
stored as `<novel id>/artifacts/<job id>`, and then recorded with `artifact_stored` under the
message id `<job id>:artifact:<attempt>`, so a resumed run records it once.

A cancel stops the run before the build, or kills the converter during it; the job then ends
canceled with nothing stored. A run that cannot build fails with the builder's (or the
converter's) message.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import msgspec

from engine.artifacts import calibre
from engine.artifacts.book import Book, Image
from engine.artifacts.errors import ArtifactError, BuildCanceled
from engine.artifacts.formats import FORMATS, build
from engine.domain.envelope import event_envelope
from engine.domain.eventlog import Stored
from engine.domain.events import ArtifactStored, Event, RetryRequested
from engine.domain.state import JobState
from engine.jetstream.library import Blob, LibraryStore, artifact_object, cover_object
from engine.novels.binder import Bound, ContentsError, bind, image_ids, sniff_image
from engine.novels.binder import table_of_contents as fold_contents
from engine.novels.common import each
from engine.novels.errors import NovelError

# How often a running build looks for a stop request (the converter is killed on one).
STOP_POLL_S = 0.1
IMAGE_READS = 16  # a book's images read from the object store at once


class ArtifactParams(msgspec.Struct, frozen=True, kw_only=True):
    """What an ARTIFACT job is asked to make (checked when the run starts)."""

    novel_id: str
    formats: list[str]
    toc_job_id: str


class ArtifactFailed(NovelError):
    """The artifact cannot be made; the message says why, and fails the job."""


class ArtifactRun(Protocol):
    """What the handler uses of a job's run (the worker's run context provides it)."""

    job: JobState

    @property
    def worker_id(self) -> str: ...
    @property
    def library(self) -> LibraryStore: ...
    @property
    def artifact_builds(self) -> asyncio.Semaphore:
        """Held while building: one build at a time per worker."""
        ...

    def should_stop(self) -> bool: ...
    async def log(self, level: str, message: str) -> None: ...
    async def history(self, job_id: str) -> Sequence[Stored]: ...
    async def record(self, event: Event, msg_id: str) -> None: ...


async def make_artifact(run: ArtifactRun, *, timeout: float = calibre.DEFAULT_TIMEOUT) -> None:
    """Build, store and record the job's artifact; returns early, storing nothing, once the
    job is asked to stop. Raises ArtifactFailed when it cannot be made; store errors
    (StoreUnavailable) pass through: they are the store's, not the job's."""
    params = job_params(run.job)
    if await _stored_already(run):
        await run.log("info", "the artifact was stored by an earlier run of this attempt")
        return
    bound = await _bound(run, params)
    async with _build_turn(run) as turn:
        if not turn:
            return
        built = await _build(run, bound.book, params.formats[0], timeout)
    if built is None:
        return
    await _store(run, params, bound, built)


async def _stored_already(run: ArtifactRun) -> bool:
    """Whether the job's artifact was stored since the job was last queued (created or
    retried): a resumed or redelivered run then has nothing left to do, while a retried one
    (its novel's chapters fetched again) makes the file anew."""
    if run.job.extra.get("artifact_id") != run.job.id:
        return False
    stored = False
    for entry in await run.history(run.job.id):
        if isinstance(entry.event, ArtifactStored):
            stored = True
        elif isinstance(entry.event, RetryRequested):
            stored = False
    return stored


@contextlib.asynccontextmanager
async def _build_turn(run: ArtifactRun) -> AsyncIterator[bool]:
    """Hold the worker's build slot for the block: True once held, False (holding nothing)
    when the run is asked to stop before, or while waiting for another build to end."""
    slot = run.artifact_builds
    if slot.locked():
        await run.log("info", "waiting for another e-book build of this worker to end")
    while not run.should_stop():
        try:
            async with asyncio.timeout(STOP_POLL_S):
                await slot.acquire()
        except TimeoutError:
            continue
        try:
            yield True
        finally:
            slot.release()
        return
    yield False


def job_params(job: JobState) -> ArtifactParams:
    """The job's params; ArtifactFailed naming what is wrong with them."""
    try:
        params = msgspec.convert(job.params, ArtifactParams)
    except msgspec.ValidationError as e:
        raise ArtifactFailed(f"invalid artifact parameters: {e}") from e
    if len(params.formats) != 1 or params.formats[0] not in FORMATS:
        raise ArtifactFailed(
            f"invalid artifact parameters: formats must be one of {', '.join(FORMATS)}, "
            f"got {params.formats!r}"
        )
    return params


async def _bound(run: ArtifactRun, params: ArtifactParams) -> Bound:
    """The book from the log and the library; the missing chapters logged."""
    history = await run.history(params.toc_job_id)
    try:
        contents = fold_contents((s.event for s in history), params.novel_id, params.toc_job_id)
    except ContentsError as e:
        raise ArtifactFailed(str(e)) from e
    wanted = {c.id for c in contents.chapters}
    stored = await run.library.chapters(params.novel_id)
    bodies = {cid: body for cid, body in stored.items() if cid in wanted}
    images = await _images(run.library, params.novel_id, image_ids(bodies.values()))
    cover = _sniffed(await run.library.get_file(cover_object(params.novel_id)))
    bound = bind(contents, bodies, images, cover)
    if bound.chapters_missing:
        await run.log(
            "warning",
            f"{bound.chapters_missing} of {len(contents.chapters)} chapters are not in the "
            "library: the book shows a placeholder for each",
        )
    return bound


async def _images(library: LibraryStore, novel_id: str, ids: Iterable[str]) -> dict[str, Image]:
    """The stored images among `ids` that a book can show (JPEG, PNG, GIF), IMAGE_READS
    read at once (each read is a few round trips to the object store)."""
    out: dict[str, Image] = {}

    async def one(image_id: str) -> None:
        image = _sniffed(await library.get_image(novel_id, image_id))
        if image is not None:
            out[image_id] = image

    wanted = list(dict.fromkeys(ids))
    await each(wanted, IMAGE_READS, one)  # the first error stops the rest and is raised
    return {i: out[i] for i in wanted if i in out}  # in the order asked for


def _sniffed(blob: Blob | None) -> Image | None:
    return sniff_image(blob.data) if blob is not None else None


class Built(msgspec.Struct, frozen=True, kw_only=True):
    """A finished file: its name and bytes."""

    file_name: str
    data: bytes


async def _build(run: ArtifactRun, book: Book, fmt: str, timeout: float) -> Built | None:
    """The file of `book` in `fmt`, or None when the job was asked to stop meanwhile."""
    cancel = asyncio.Event()
    watcher = asyncio.create_task(_watch(run, cancel))
    try:
        with tempfile.TemporaryDirectory(prefix=f"artifact-{run.job.id}-") as scratch:
            path = await build(book, fmt, Path(scratch), cancel=cancel, timeout=timeout)
            data = await asyncio.to_thread(path.read_bytes)
            return Built(file_name=path.name, data=data)
    except BuildCanceled:
        return None
    except ArtifactError as e:
        raise ArtifactFailed(f"building the {fmt} file failed: {e}") from e
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _watch(run: ArtifactRun, cancel: asyncio.Event) -> None:
    """Set `cancel` once the run is asked to stop (the builder then kills its converter)."""
    while not run.should_stop():  # noqa: ASYNC110 - should_stop is a predicate, not an event
        await asyncio.sleep(STOP_POLL_S)
    cancel.set()


async def _store(run: ArtifactRun, params: ArtifactParams, bound: Bound, built: Built) -> None:
    fmt = FORMATS[params.formats[0]]
    name = artifact_object(params.novel_id, run.job.id)
    size = await run.library.put_file(name, built.data, fmt.media_type)
    event = ArtifactStored(
        **event_envelope(run.job.id, run.worker_id),
        novel_id=params.novel_id, artifact_id=run.job.id, format=fmt.name,
        file_name=built.file_name, content_type=fmt.media_type, bytes=size,
        chapters_missing=bound.chapters_missing,
    )  # fmt: skip
    await run.record(event, f"{run.job.id}:artifact:{run.job.attempts}")
    await run.log("info", f"stored {built.file_name} ({size} bytes)")
