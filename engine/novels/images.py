"""Images of a novel (its cover, its chapters' images): fetched, stored, recorded.

An image is fetched with the page that shows it as its ``Referer`` (a chapter's image with
the chapter's URL, a cover with the novel page's), as a browser would send it: sites that
protect their images from hotlinking refuse a request without one.

Where an image is stored: a chapter's image fetched by a chapter run, when it is at most
`INLINE_IMAGE_BYTES`, goes to LIBRARY beside the chapter bodies, in the same atomic batch as
its chapter's body (:func:`keep_chapter_image`, :mod:`engine.novels.stored`): no write of its
own. Stored as a file, it cost two fsync'd writes, and a novel with two images in one
chapter of ten spent a quarter of its chapters' time on them (bench/novel.py). Covers, an
IMAGE job's images and larger images are files in the object store. Readers look in
LIBRARY first, then for the file (`LibraryStore.get_image`); a file stored by a refresh
removes the copy in LIBRARY, which would hide it.

An image the library already holds is not fetched again unless the job refreshes: its
`image_stored` fact is restated from what is stored (its size and content type). So a run
after a crash between storing an image and recording it, a replay, or a later VOLUME or
IMAGE job of the same novel records the image without a request. A chapter run reads which
of the novel's images are in LIBRARY once, then looks up only the file of an image not
among them (its description only, one request); an image it found missing is stored
without the object store's own second lookup (:meth:`LibraryStore.add_file`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, NamedTuple

from engine.crawl.errors import CrawlError
from engine.crawl.fetcher import FetchResult
from engine.crawl.models import PageOutcome
from engine.domain.events import ImageStored
from engine.jetstream.atomic import Message
from engine.jetstream.library import FileInfo, cover_object, image_object
from engine.novels.common import Stopped, envelope, gated_fetch, msg_id, outcome
from engine.novels.errors import NovelError
from engine.novels.model import url_id

if TYPE_CHECKING:  # the run's protocol lives with the handlers, which build on this module
    from engine.novels.handlers import NovelRun

RESTATED = "already in the library"
CHAPTER_INLINE_BYTES = 4 * 1024 * 1024  # images stored with one chapter's body, at most


class Kept(NamedTuple):
    """What became of an image: stored or found stored (its content type and size), or
    failed (`error`)."""

    content_type: str = ""
    size: int = 0
    error: str | None = None


async def store_image(
    run: NovelRun, novel_id: str, url: str, *, chapter_id: str | None,
    image_id: str | None = None, page: bool = False, referer: str | None = None,
    refresh: bool | None = None, rank: int = 0,
) -> ImageStored:  # fmt: skip
    """Fetch an image (the cover when ``chapter_id`` is None), store it and record it, with
    its `page` event if ``page``; a failure is recorded too (`ok` false), never raised.

    An image already stored is restated instead (counted skipped with ``page``) unless
    ``refresh`` (None: the job's ``refresh`` param). ``referer`` is the page showing the
    image (None: found in the job's params, see :func:`shown_on`); ``rank`` its place at the
    host's gate (its chapter's serial). Stopped passes through.
    """
    image_id = image_id or url_id(url)
    kept, result = await keep_image(
        run, novel_id, url, chapter_id=chapter_id, image_id=image_id, referer=referer,
        refresh=refresh, rank=rank,
    )  # fmt: skip
    fact = ImageStored(
        **envelope(run), novel_id=novel_id, image_id=image_id, url=url,
        ok=kept.error is None, chapter_id=chapter_id, cover=chapter_id is None,
        content_type=kept.content_type, bytes=kept.size, error=kept.error,
    )  # fmt: skip
    await run.record(fact, msg_id(run, "image", image_id))
    if page and result is None and fact.ok:
        await run.skipped(url, RESTATED)
    elif page:
        await run.page(_image_page(url, result, fact))
    return fact


async def keep_image(
    run: NovelRun,
    novel_id: str,
    url: str,
    *,
    chapter_id: str | None,
    image_id: str | None = None,
    referer: str | None = None,
    refresh: bool | None = None,
    rank: int = 0,
) -> tuple[Kept, FetchResult | None]:
    """What `store_image` does but record: what became of the image (stored as a file), for
    the caller to record, and the answer it was fetched with (None: found stored, or not
    fetched at all)."""
    image_id = image_id or url_id(url)
    refreshing = _refreshing(run, refresh)
    if not refreshing:
        stored = await _stored(run, novel_id, image_id, chapter_id)
        if stored is not None:
            return Kept(stored.content_type, stored.size), None
    kept, result = await _fetched(run, url, image_id, chapter_id, referer, rank)
    if kept.error is not None or result is None:
        return kept, result
    return await _as_file(run, novel_id, image_id, chapter_id, result, kept, refreshing), result


async def keep_chapter_image(
    run: NovelRun, novel_id: str, url: str, *, chapter_id: str, image_id: str,
    inline: Collection[str], room: Room, rank: int = 0,
) -> tuple[Kept, Message | None]:  # fmt: skip
    """A chapter's image for a chapter run: found stored (`inline`: the ids of the novel's
    images in LIBRARY, read once by the run), or fetched. A fetched image small enough, for
    which the chapter has `room`, is not stored here: its message is returned, to be stored
    with its chapter's body (`LibraryStore.put_chapters`); any other is stored as a file."""
    refreshing = _refreshing(run, None)
    if not refreshing:
        stored = await (
            run.library.image_info(novel_id, image_id) if image_id in inline
            else run.library.file_info(image_object(novel_id, image_id))
        )  # fmt: skip
        if stored is not None:
            return Kept(stored.content_type, stored.size), None
    kept, result = await _fetched(run, url, image_id, chapter_id, None, rank)
    if kept.error is not None or result is None:
        return kept, None
    message = run.library.image_message(novel_id, image_id, result.body, kept.content_type)
    if message is not None and room.take(len(result.body)):
        return kept, message
    return await _as_file(run, novel_id, image_id, chapter_id, result, kept, refreshing), None


async def _stored(
    run: NovelRun, novel_id: str, image_id: str, chapter_id: str | None
) -> FileInfo | None:
    if chapter_id is None:
        return await run.library.file_info(cover_object(novel_id))
    return await run.library.image_info(novel_id, image_id)


async def _fetched(
    run: NovelRun, url: str, image_id: str, chapter_id: str | None, referer: str | None,
    rank: int,
) -> tuple[Kept, FetchResult | None]:  # fmt: skip
    """The image fetched (with its `Referer`): its type and size, or the error."""
    referer = referer or shown_on(run.job.params, image_id, chapter_id)
    result: FetchResult | None = None
    try:
        sent = {"Referer": referer} if referer else None
        result = await gated_fetch(run, url, headers=sent, rank=rank)
        return Kept(_image_type(result), len(result.body)), result
    except (CrawlError, NovelError) as e:
        if isinstance(e, Stopped):
            raise
        return Kept(error=str(e)), result


async def _as_file(
    run: NovelRun, novel_id: str, image_id: str, chapter_id: str | None, result: FetchResult,
    kept: Kept, refreshing: bool,
) -> Kept:  # fmt: skip
    """Store the fetched image as a file. Not refreshing, its name was just found free: no
    second lookup to replace a file; refreshing, a copy in LIBRARY (which readers would see
    first) goes."""
    if chapter_id is None:
        name = cover_object(novel_id)
    else:
        name = image_object(novel_id, image_id)
        if refreshing:
            await run.library.drop_inline_image(novel_id, image_id)
    put = run.library.put_file if refreshing else run.library.add_file
    return Kept(kept.content_type, await put(name, result.body, kept.content_type))


class Room:
    """How many bytes of images may still go with one chapter's body (`keep_chapter_image`):
    a chapter may show up to MAX_IMAGES images, and its group is one write held in memory
    until it is stored."""

    def __init__(self, size: int = CHAPTER_INLINE_BYTES) -> None:
        self.left = size

    def take(self, size: int) -> bool:
        """Whether `size` more bytes fit; if so they are counted."""
        if size > self.left:
            return False
        self.left -= size
        return True


def _refreshing(run: NovelRun, refresh: bool | None) -> bool:
    return bool(run.job.params.get("refresh", False)) if refresh is None else refresh


def shown_on(params: dict[str, Any], image_id: str, chapter_id: str | None) -> str | None:
    """The page an image is shown on, from a job's params: an IMAGE's item's ``referer``
    (resolved when the job was made), else the URL of the chapter ``chapter_id`` among a
    VOLUME's or CHAPTER's ``chapters``; None when the params name none."""
    for item in _dicts(params.get("images")):
        if item.get("id") == image_id and isinstance(item.get("referer"), str):
            return str(item["referer"])
    if chapter_id is None:
        return None
    for item in _dicts(params.get("chapters")):
        if item.get("id") == chapter_id and isinstance(item.get("url"), str):
            return str(item["url"])
    return None


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _image_page(url: str, result: FetchResult | None, fact: ImageStored) -> PageOutcome:
    if result is None:
        return PageOutcome(url=url, final_url=url, depth=0, status=None, ok=False, error=fact.error)
    return outcome(url, result, fact.error)


def _image_type(result: FetchResult) -> str:
    """The image's content type; NovelError when the answer is not a whole image."""
    content_type = (result.content_type or "").split(";", 1)[0].strip().lower()
    if not 200 <= result.status < 300:
        raise NovelError(f"{result.url}: HTTP {result.status}")
    if not content_type.startswith("image/"):
        raise NovelError(f"{result.url}: not an image ({content_type or 'no content type'})")
    if result.truncated:
        raise NovelError(f"{result.url}: larger than {result.bytes} bytes")
    return content_type
